"""`bioqwen chat models=[...]`: compare models side by side on the same prompts.

`ui=web` serves a Gradio page on 127.0.0.1 until Ctrl-C (or SIGTERM); `ui=cli` chats in the
terminal until end of input; `prompts=[...]` answers those and exits. Every answered prompt is
appended to conversations.jsonl in the run directory; the W&B table `conversations` and
metrics.json (turns, tokens/s and language fidelity per model) are written when the chat ends.
Model entries and the port are checked before anything is loaded or written.
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.chat import session
from bioqwen.chat.conversation import TABLE_COLUMNS, Conversation
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import job_main, log, open_run, plain
from bioqwen.models import check_model_files, resolve_model


def _specs(entries: list[Any]) -> list[dict[str, Any]]:
    if not entries:
        raise BioqwenError("models=[]: name at least one model (run dir, model dir, .gguf, name)")
    specs = [session.model_spec(str(e)) for e in entries]
    seen: dict[str, int] = {}
    for spec in specs:  # the same model twice (e.g. two runs both called merged) gets a suffix
        name = str(spec.get("name"))
        seen[name] = seen.get(name, 0) + 1
        spec["name"] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return specs


def _free_port(port: int) -> int:
    """The port to serve on: the one asked for, if free; any free one for port=0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise BioqwenError(
                f"port={port}: 127.0.0.1:{port} is in use ({err.strerror}); "
                "pass port=<another> or port=0 for any free port"
            ) from err
        return int(probe.getsockname()[1])


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(conversation: Conversation, cfg: DictConfig, port: int, warning: str | None) -> None:
    from bioqwen.chat import app

    examples = [{"label": str(e.label), "prompt": str(e.prompt)} for e in cfg.examples]
    demo = app.build_app(conversation, plain(cfg.generation), examples, warning)
    url = app.launch(demo, port)
    print(f"bioqwen chat: serving {url} (Ctrl-C to stop)", flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        log.info("chat stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        demo.close()


def run(cfg: DictConfig) -> dict[str, Any]:
    """Load the models, chat (web page, terminal or scripted prompts), save the conversations."""
    specs = _specs(list(cfg.models))
    ui, prompts = str(cfg.ui), [str(p) for p in cfg.prompts]
    port = _free_port(int(cfg.port)) if ui == "web" and not prompts else 0
    for spec in specs:  # a broken model directory stops here, before the run directory opens
        if spec.get("path"):
            check_model_files(resolve_model(spec, adapters=True), bool(spec["trust_remote_code"]))
    labels = [str(s["name"]) for s in specs]
    tags = [f"model:{label}" for label in labels]
    with open_run(cfg, "chat", name="chat-" + "-vs-".join(labels), tags=tags) as run:
        models = [
            session.load_model(spec, str(cfg.device), int(cfg.gguf_context)) for spec in specs
        ]
        warning = session.template_warning(models)
        if warning:
            print(f"bioqwen chat: warning: {warning}", file=sys.stderr)
        conversation = Conversation(
            models,
            {str(k): str(v) for k, v in plain(cfg.data.system_prompts).items()},
            run.dir / "conversations.jsonl",
            parallel=bool(cfg.parallel),
        )
        run.lineage(models={m.label: m.source for m in models})
        if prompts or ui == "cli":
            from bioqwen.chat.cli import run_terminal

            run_terminal(conversation, plain(cfg.generation), prompts or None)
        else:
            _serve(conversation, cfg, port, warning)
        run.tracker.table("conversations", TABLE_COLUMNS, conversation.rows)
        metrics = conversation.metrics()
        run.finish(metrics)
        log.info("chat saved: %s", Path(run.dir) / "conversations.jsonl")
    return metrics


main = job_main("chat", run)

if __name__ == "__main__":
    main()
