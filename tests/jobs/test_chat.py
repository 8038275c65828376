"""`bioqwen chat`: user mistakes fail before anything is written; scripted and terminal chats
save their conversations, metrics and W&B table."""

from __future__ import annotations

import io
import json
import shutil
import socket

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.jobs import chat
from bioqwen.jobs.common import execute
from tests.chat.conftest import OTHER_TEMPLATE
from tests.conftest import offline_run


def test_port_in_use_and_bad_entries_fail_before_the_run_opens(compose, tiny_model_dir, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = compose("chat", f"models=[{tiny_model_dir}]", f"port={port}")
        with pytest.raises(BioqwenError, match=f"port={port}: 127.0.0.1:{port} is in use"):
            execute(chat.run, cfg, tmp_path / "busy")
    for models, message in [
        ("[]", "name at least one model"),
        ("[tiny,nowhere/x.gguf]", "no such GGUF"),
    ]:
        with pytest.raises(BioqwenError, match=message):
            execute(chat.run, compose("chat", f"models={models}"), tmp_path / "bad")
    assert not (tmp_path / "busy").exists() and not (tmp_path / "bad").exists()


def test_scripted_prompts_warn_on_templates_and_save_everything(run_cli, tiny_model_dir, tmp_path):
    other = tmp_path / "tiny-other-template"
    shutil.copytree(tiny_model_dir, other)
    (other / "chat_template.jinja").write_text(OTHER_TEMPLATE)
    run_dir = tmp_path / "run"
    models = f"models=[{tiny_model_dir},{other}]"
    prompts = "prompts=['What is HIV?','荨麻疹怎么办？']"
    result = run_cli("chat", models, prompts, "generation.max_new_tokens=8", run_dir=run_dir)
    assert result.returncode == 0, result.stderr
    assert "warning: the models use 2 different chat templates" in result.stderr
    assert result.stdout.count("── tiny-other-template ──") == 2
    records = [json.loads(line) for line in (run_dir / "conversations.jsonl").open()]
    assert [r["prompt_lang"] for r in records] == ["en", "zh"]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics == json.loads((run_dir / "metrics.json").read_text())
    assert metrics["turns"] == 2 and f"{tiny_model_dir.name}/tokens_per_s" in metrics
    run = offline_run(run_dir)
    assert run["summary"]["conversations/nrows"] == 4 and "job:chat" in run["tags"]


def test_terminal_mode_reads_stdin(compose, tiny_model_dir, tmp_path, monkeypatch, capsys):
    cfg = compose("chat", f"models=[{tiny_model_dir}]", "ui=cli", "generation.max_new_tokens=4")
    monkeypatch.setattr("sys.stdin", io.StringIO("What is HIV?\n"))
    metrics = execute(chat.run, cfg, tmp_path / "run")
    assert metrics["turns"] == 1
    assert "tokens/s" in capsys.readouterr().out
    assert len((tmp_path / "run" / "conversations.jsonl").read_text().splitlines()) == 1


def test_a_system_prompt_override_on_the_command_line_reaches_the_chat(
    compose, tiny_model_dir, tmp_path
):
    overrides = ["prompts=['What is HIV?']", "generation.max_new_tokens=2"]
    prompt = "data.system_prompts.en=You are a test."
    cfg = compose("chat", f"models=[{tiny_model_dir}]", *overrides, prompt)
    execute(chat.run, cfg, tmp_path / "run")
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "conversations.jsonl").open()]
    assert record["system"] == "You are a test."


def test_the_page_is_served_on_127_0_0_1_only(monkeypatch):
    # The chat holds no authentication: it must never listen on other interfaces or share.
    from bioqwen.chat import app

    launched = {}

    class Page:
        def launch(self, **kwargs):
            launched.update(kwargs)

    url = app.launch(Page(), 7861)
    assert launched["server_name"] == "127.0.0.1" and not launched.get("share")
    assert url == "http://127.0.0.1:7861/"
