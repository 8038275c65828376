"""The in-training benchmark hook prompts with the system prompts the train job hands it."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM

from bioqwen.eval.training_hook import benchmark_metrics
from bioqwen.models import tokenizer_for
from tests.conftest import compose_config


def test_the_hook_renders_the_system_prompts_it_is_given(
    tiny_model_dir: Path, rendered_prompts: list[str]
) -> None:
    rendered = rendered_prompts
    prompts = {"en": "You answer like a botanist.", "zh": "你是植物学家。"}
    hook = benchmark_metrics("ncbi", prompts, limit=2, max_new_tokens=2)
    tokenizer = tokenizer_for(compose_config("train", "model=tiny").model, str(tiny_model_dir))
    metrics = hook(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer)
    assert metrics["n_documents"] == 2 and len(rendered) == 2
    # ncbi is English: its system turn is the given en prompt, not the shipped BIO-QWEN one.
    assert all("You answer like a botanist." in chat for chat in rendered)
    assert not any("BIO-QWEN" in chat for chat in rendered)
