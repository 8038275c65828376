"""The Gradio page: one prompt box, one streamed answer column per model, settings, examples.

The page talks to one `Conversation` held by the server (a local, single-user tool): each
column shows that model's own history. Handlers never raise: an empty prompt or a model that
fails shows a message on the page, and the server keeps serving.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bioqwen.chat.conversation import Conversation, fidelity_note
from bioqwen.chat.session import Answer
from bioqwen.errors import BioqwenError

# Set before gradio is imported anywhere: a local tool sends no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

log = logging.getLogger("bioqwen")
HOST = "127.0.0.1"
# Local only, no share link, errors shown on the page, the job's own loop keeps it alive.
LAUNCH = {
    "server_name": HOST,
    "prevent_thread_lock": True,
    "quiet": True,
    "show_error": True,
    "share": False,
}
# System fonts only: the default theme would fetch Google Fonts from the network.
FONTS = ["ui-sans-serif", "system-ui", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "sans-serif"]
# Generation settings the page edits, in the order of its inputs.
KNOBS = ("max_new_tokens", "do_sample", "temperature", "top_p", "repetition_penalty")
CSS = """
.bq-stats {font-size: 0.85em; opacity: 0.85; min-height: 2.5em}
.bq-model h3 {margin: 0}
.bq-model code {display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis}
"""


def stats_line(answer: Answer, prompt_lang: str | None) -> str:
    """Latency, tokens, tokens/s and the language-fidelity flag of one answer."""
    if answer.error:
        return f"⚠ error after {answer.latency_s:.2f} s"
    if not answer.done:
        return f"streaming… {answer.latency_s:.1f} s"
    note = fidelity_note(prompt_lang, answer.text)
    flag = f"⚠ {note}" if note else f"✓ language {prompt_lang or '–'}"
    return (
        f"{answer.latency_s:.2f} s · {answer.new_tokens} tokens · "
        f"{answer.tokens_per_s:.1f} tokens/s · {flag}"
    )


def short_source(source: str, keep: int = 2) -> str:
    """The last `keep` parts of a model path (a hub id stays whole), for a column header."""
    parts = source.split("/")
    return source if len(parts) <= keep + 1 else "…/" + "/".join(parts[-keep:])


def _shown(
    history: Sequence[Mapping[str, str]], prompt: str, answer: Answer
) -> list[dict[str, str]]:
    text = f"⚠ {answer.error}" if answer.error else answer.text or "…"
    return [
        *map(dict, history),
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": text},
    ]


def _settings_panel(system_prompts: Mapping[str, str], settings: Mapping[str, Any]) -> list[Any]:
    """The folded panel: zh and en system prompts, then one input per name in KNOBS."""
    import gradio as gr

    with gr.Accordion("System prompts and generation settings", open=False):
        with gr.Row():
            system_zh = gr.Textbox(system_prompts.get("zh", ""), label="System prompt (zh)")
            system_en = gr.Textbox(system_prompts.get("en", ""), label="System prompt (en)")
        with gr.Row():
            max_new = gr.Slider(
                1, 2048, int(settings["max_new_tokens"]), step=1, label="max_new_tokens"
            )
            sample = gr.Checkbox(bool(settings["do_sample"]), label="do_sample (off: greedy)")
            temperature = gr.Slider(0.05, 2.0, float(settings["temperature"]), label="temperature")
            top_p = gr.Slider(0.05, 1.0, float(settings["top_p"]), label="top_p")
            penalty = gr.Slider(
                1.0, 2.0, float(settings["repetition_penalty"]), label="repetition_penalty"
            )

    return [system_zh, system_en, max_new, sample, temperature, top_p, penalty]


def build_app(
    conversation: Conversation,
    settings: Mapping[str, Any],
    examples: Sequence[Mapping[str, str]],
    warning: str | None = None,
) -> Any:
    """The Gradio Blocks app for a conversation (not launched)."""
    import gradio as gr

    models = conversation.models
    with gr.Blocks(title="bioqwen chat", analytics_enabled=False) as demo:
        gr.Markdown(f"## bioqwen chat · {len(models)} models side by side")
        gr.Markdown(f"⚠ **Warning:** {warning}" if warning else "", elem_id="bq-warning")
        with gr.Row():
            with gr.Column(scale=3):
                prompt = gr.Textbox(
                    label="Prompt (the system prompt follows its language: zh or en)",
                    lines=3,
                    elem_id="bq-prompt",
                )
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="bq-send")
                    clear = gr.Button("New conversation", elem_id="bq-clear")
            with gr.Column(scale=2):
                gr.Examples(
                    examples=[[e["prompt"]] for e in examples],
                    inputs=[prompt],
                    example_labels=[e["label"] for e in examples],
                    label="Example prompts (paper tasks)",
                    examples_per_page=10,
                )
        status = gr.Markdown("", elem_id="bq-status")
        chats, stats = [], []
        with gr.Row():
            for i, model in enumerate(models):
                with gr.Column(elem_classes=["bq-model"], min_width=240):
                    gr.Markdown(f"### {model.label}\n`{short_source(model.source)}`")
                    chats.append(
                        gr.Chatbot(
                            label=model.label,
                            show_label=False,
                            height=340,
                            elem_id=f"bq-answer-{i}",
                        )
                    )
                    stats.append(
                        gr.Markdown("", elem_id=f"bq-stats-{i}", elem_classes=["bq-stats"])
                    )
        system_zh, system_en, *knobs = _settings_panel(conversation.system_prompts, settings)

        def respond(text: str, zh: str, en: str, *values: Any) -> Iterator[list[Any]]:
            current = {**settings, **dict(zip(KNOBS, values, strict=True))}
            before = [list(h) for h in conversation.histories]
            lang, _system = conversation.system_for(text, {"zh": zh, "en": en})
            head = (
                f"prompt language: **{lang or 'unknown'}** · system prompt ({lang or 'en'}) applied"
            )
            try:
                for answers in conversation.ask(text, current, {"zh": zh, "en": en}):
                    shown = [
                        _shown(h, text.strip(), a) for h, a in zip(before, answers, strict=True)
                    ]
                    yield [head, *shown, *(stats_line(a, lang) for a in answers)]
            except BioqwenError as err:
                yield [f"⚠ {err}"] + [gr.skip()] * (2 * len(models))
            except Exception as err:  # a bad request must not take the page down
                log.exception("chat request failed")
                yield [f"⚠ request failed: {type(err).__name__}: {err}"] + [gr.skip()] * (
                    2 * len(models)
                )

        def reset() -> list[Any]:
            conversation.reset()
            return ["new conversation started", *([[]] * len(models)), *([""] * len(models))]

        inputs = [prompt, system_zh, system_en, *knobs]
        outputs = [status, *chats, *stats]
        send.click(respond, inputs, outputs)
        prompt.submit(respond, inputs, outputs)
        clear.click(reset, None, outputs)
    demo.queue(default_concurrency_limit=1)
    return demo


def launch(demo: Any, port: int) -> str:
    """Serve the app on 127.0.0.1:port without blocking; return its URL."""
    import gradio as gr

    try:
        demo.launch(
            server_port=port,
            theme=gr.themes.Soft(font=FONTS, font_mono=["ui-monospace", "monospace"]),
            css=CSS,
            **LAUNCH,
        )
    except OSError as err:
        raise BioqwenError(
            f"port={port}: cannot serve on {HOST}:{port} ({err}); pass port=<free port>"
        ) from err
    return f"http://{HOST}:{port}/"
