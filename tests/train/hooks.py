"""A generation-metric hook for tests: checks what the trainer hands it and counts calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def make_probe(prompt: str) -> Callable[[Any, Any], dict[str, float]]:
    """Build a hook that generates from `prompt` twice (batched) and reports its call count."""
    calls = {"n": 0}

    def probe(model: Any, tokenizer: Any) -> dict[str, float]:
        calls["n"] += 1
        batch = tokenizer([prompt, prompt + " " + prompt], return_tensors="pt", padding=True)
        model.generate(**batch, max_new_tokens=2, do_sample=False)
        left = float(tokenizer.padding_side == "left" and batch["attention_mask"][0, 0] == 0)
        return {"calls": calls["n"], "left_padded": left, "training": float(model.training)}

    return probe


def make_reseeder() -> Callable[[Any, Any], dict[str, float]]:
    """Build a hook that reseeds and draws from the global RNG, as sampling evaluation does."""
    import torch

    def reseed(model: Any, tokenizer: Any) -> dict[str, float]:
        torch.manual_seed(0)
        return {"draw": float(torch.rand(1000).sum())}

    return reseed


def make_failing() -> Callable[[Any, Any], dict[str, float]]:
    """Build a hook that fails, as a crash in the middle of training would."""

    def fail(model: Any, tokenizer: Any) -> dict[str, float]:
        raise RuntimeError("hook failed on purpose")

    return fail
