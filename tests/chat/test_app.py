"""The page's pieces without a browser: the template warning banner and the per-answer line."""

from __future__ import annotations

from types import SimpleNamespace

from bioqwen.chat.app import build_app, short_source, stats_line
from bioqwen.chat.session import Answer
from bioqwen.jobs.common import plain
from tests.conftest import compose_config

EXAMPLES = [{"label": "QA · en", "prompt": "What is HIV?"}]
# The chat job's composed generation settings, shortened for CPU.
SETTINGS = {
    **plain(compose_config("chat").generation),
    **{"max_new_tokens": 8, "do_sample": False, "temperature": 0.7, "top_p": 0.8},
}


def test_page_shows_the_template_warning_and_one_column_per_model():
    import gradio as gr

    models = [SimpleNamespace(label=f"m{i}", source=f"/runs/m{i}/merged") for i in range(2)]
    chat = SimpleNamespace(models=models, system_prompts={"zh": "甲", "en": "A"})
    demo = build_app(chat, {**SETTINGS, "repetition_penalty": 1.0}, EXAMPLES, "2 templates")  # type: ignore[arg-type]
    blocks = {b.elem_id: b for b in demo.blocks.values() if b.elem_id}
    assert "2 templates" in blocks["bq-warning"].value
    assert {"bq-answer-0", "bq-answer-1", "bq-stats-1"} <= blocks.keys()
    assert isinstance(blocks["bq-answer-1"], gr.Chatbot) and "bq-answer-2" not in blocks


def test_stats_line_reports_speed_and_flags_the_language():
    done = Answer(text="This is English", new_tokens=20, latency_s=2.0, done=True)
    assert stats_line(done, "en") == "2.00 s · 20 tokens · 10.0 tokens/s · ✓ language en"
    assert stats_line(done, "zh").endswith("⚠ answered in en, prompt in zh")
    assert stats_line(Answer(latency_s=0.5), "en") == "streaming… 0.5 s"
    assert stats_line(Answer(error="boom", done=True, latency_s=1), "en").startswith("⚠ error")
    assert short_source("/tmp/a/b/run/merged") == "…/run/merged"
    assert short_source("Qwen/Qwen2-0.5B") == "Qwen/Qwen2-0.5B"
