"""A generation_eval hook that makes each optimizer step take a known time: the real-SLURM
tests need points that are still running when they cancel or requeue them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def hook(seconds: float = 0.5) -> Callable[[Any, Any], dict[str, float]]:
    """A hook that sleeps `seconds` at every call (generation_eval.every_steps=1: every step)."""

    def pace(model: Any, tokenizer: Any) -> dict[str, float]:
        time.sleep(seconds)
        return {"paced_s": seconds}

    return pace
