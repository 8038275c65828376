"""Model entries, streaming, transcripts, language flags and the terminal mode, in process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bioqwen.chat import session
from bioqwen.chat.cli import run_terminal
from bioqwen.chat.conversation import Conversation, fidelity, fidelity_note
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import plain
from tests.conftest import compose_config

SYSTEM = {"zh": "系统提示", "en": "System prompt."}
# The chat job's composed generation settings, shortened for CPU.
SETTINGS = {
    **plain(compose_config("chat").generation),
    **{"max_new_tokens": 12, "do_sample": True, "temperature": 1.0, "top_p": 1.0},
}


@pytest.fixture(scope="module")
def models(chat_models):
    return [session.load_model(session.model_spec(str(p)), "cpu") for p in chat_models[:2]]


def _conversation(models, tmp_path: Path) -> Conversation:
    return Conversation(models, dict(SYSTEM), tmp_path / "conversations.jsonl")


def test_entries_are_checked_before_loading(tmp_path, chat_models, monkeypatch):
    run_dir = chat_models[2]
    spec = session.model_spec(str(run_dir))
    assert (spec["name"], spec["path"], spec["init"]) == ("run-tiny-c", str(run_dir), "pretrained")
    assert session.model_spec("tiny")["architecture"]["hidden_size"] == 64  # a conf/model name
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "fake.gguf").write_bytes(b"PK\x03\x04")
    cases = {
        str(tmp_path / "missing"): "no such file or directory",
        str(tmp_path / "empty"): "no config.json",
        str(tmp_path / "notes.txt"): "is a file, not a model",
        str(tmp_path / "fake.gguf"): "not a GGUF file",
        str(tmp_path / "missing.gguf"): "no such GGUF file",
        "nobody/no-such-model": "not in the local cache",
    }
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for entry, message in cases.items():
        with pytest.raises(BioqwenError, match=message):
            session.model_spec(entry)


def test_gguf_without_llama_cpp_is_a_clear_error(tmp_path, monkeypatch):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + bytes(16))
    monkeypatch.setattr(session.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BioqwenError, match="need llama-cpp-python"):
        session.model_spec(str(model))


def test_every_model_streams_its_answer_and_the_turn_is_saved(models, tmp_path):
    chat = _conversation(models, tmp_path)
    states = [[(a.text, a.done) for a in answers] for answers in chat.ask("What is HIV?", SETTINGS)]
    assert len(states) > 4  # pieces arrive one by one, not as one final answer
    assert all(done for _, done in states[-1]) and not all(done for _, done in states[0])
    (record,) = [json.loads(line) for line in (tmp_path / "conversations.jsonl").open()]
    assert record["prompt_lang"] == "en" and record["system"] == SYSTEM["en"]
    assert [a["model"] for a in record["answers"]] == ["tiny-a", "tiny-b"]
    assert [a["text"] for a in record["answers"]] == [text.strip() for text, _ in states[-1]]
    assert all(0 < a["new_tokens"] <= 12 and a["tokens_per_s"] > 0 for a in record["answers"])
    # The next prompt carries each model's own history and the zh system prompt.
    seen = []
    models[0].stream, original = (lambda m, s: seen.append(m) or original(m, s)), models[0].stream
    try:
        list(chat.ask("艾滋病是怎么传播的？", SETTINGS))
    finally:
        models[0].stream = original
    assert [m["role"] for m in seen[0]] == ["system", "user", "assistant", "user"]
    assert seen[0][0]["content"] == SYSTEM["zh"]
    assert seen[0][2]["content"] == record["answers"][0]["text"]
    assert chat.metrics()["turns"] == 2


def test_empty_prompt_and_a_failing_model_do_not_end_the_chat(models, tmp_path):
    chat = _conversation(models, tmp_path)
    with pytest.raises(BioqwenError, match="prompt is empty"):
        list(chat.ask("   ", SETTINGS))

    def broken(messages, settings):
        raise RuntimeError("CUDA out of memory")
        yield

    models[1].stream, original = broken, models[1].stream
    try:
        final = list(chat.ask("What is HIV?", SETTINGS))[-1]
    finally:
        models[1].stream = original
    assert final[0].error is None and final[0].done
    assert final[1].error == "RuntimeError: CUDA out of memory"
    final = list(chat.ask("And how is it treated?", SETTINGS))[-1]
    assert all(a.error is None for a in final)
    records = [json.loads(line) for line in (tmp_path / "conversations.jsonl").open()]
    assert [r["turn"] for r in records] == [1, 2]
    assert records[0]["answers"][1]["error"].startswith("RuntimeError")


def test_language_flags():
    assert fidelity("zh", "这是中文回答")["fidelity_ok"]
    assert not fidelity("zh", "This answer is in English")["fidelity_ok"]
    assert fidelity("en", "p53 และ BRCA1")["other_scripts"] == ["THAI"]
    assert fidelity_note("zh", "English only") == "answered in en, prompt in zh"
    assert fidelity_note("en", "α-synuclein aggregates") == ""


def test_different_chat_templates_are_named(models, other_template_model):
    assert session.template_warning(models) is None
    other = session.load_model(session.model_spec(str(other_template_model)), "cpu")
    warning = session.template_warning([*models, other])
    assert warning is not None
    assert "2 different chat templates" in warning and "tiny-other-template" in warning


def test_terminal_mode_reads_prompts_until_quit(models, tmp_path, capsys):
    chat = _conversation(models, tmp_path)
    out = io.StringIO()
    stdin = io.StringIO("What is HIV?\n\n/new\n荨麻疹怎么办？\n/quit\nnever read\n")
    assert run_terminal(chat, SETTINGS, inp=stdin, out=out) == 2
    text = out.getvalue()
    assert text.count("── tiny-a ──") == 2 and text.count("── tiny-b ──") == 2
    assert text.count("tokens/s") == 4 and "new conversation" in text
    assert "prompt is empty" in capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "conversations.jsonl").open()]
    assert [(r["conversation"], r["turn"]) for r in records] == [(1, 1), (2, 1)]
