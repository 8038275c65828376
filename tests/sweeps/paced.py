"""A generation_eval hook that makes each optimizer step take a known time (the real-SLURM tests
need points still running when they cancel or requeue them) and records the GPU binding the
point ran with (gen/cuda_visible_devices in metrics.json: -1 when unset)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any


def hook(seconds: float = 0.5) -> Callable[[Any, Any], dict[str, float]]:
    """A hook that sleeps `seconds` at every call (generation_eval.every_steps=1: every step)."""

    def pace(model: Any, tokenizer: Any) -> dict[str, float]:
        time.sleep(seconds)
        return {"paced_s": seconds, "cuda_visible_devices": float(visible_devices())}

    return pace


def visible_devices() -> int:
    """This process's CUDA_VISIBLE_DEVICES as one GPU index, -1 when unset."""
    return int(os.environ.get("CUDA_VISIBLE_DEVICES", "-1"))
