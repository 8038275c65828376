"""How many micro-batches make an optimizer step: plain arithmetic on a stage's settings.

Apart from bioqwen.train.trainer and bioqwen.train.bins (which use it) so that `bioqwen plan`
computes the same accumulation without importing torch, transformers or TRL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bioqwen.errors import BioqwenError

# One micro-batch of every process may overshoot the effective batch by this factor at most:
# beyond it even accumulation 1 trains on a clearly larger batch than the setting asks for.
OVERSHOOT = 1.5


def accumulation_steps(stage: Mapping[str, Any], world_size: int) -> int:
    """Gradient accumulation steps that make stage.effective_batch_size out of the per-device
    batch and the number of processes (the paper: 64 = 4 per GPU x 4 steps x 4 GPUs)."""
    per_device, total = int(stage["per_device_batch_size"]), int(stage["effective_batch_size"])
    per_step = per_device * world_size
    if total % per_step:
        raise BioqwenError(
            f"stage.effective_batch_size={total}: not a multiple of stage.per_device_batch_size "
            f"x processes = {per_device} x {world_size} = {per_step}"
        )
    return total // per_step


def packed_accumulation(stage: Mapping[str, Any], world_size: int, per_bin: float) -> int:
    """Accumulation steps whose bins hold closest to stage.effective_batch_size samples."""
    per_device, total = int(stage["per_device_batch_size"]), int(stage["effective_batch_size"])
    micro = per_device * world_size * per_bin  # samples in one micro-batch of every process
    if micro > OVERSHOOT * total:
        raise BioqwenError(
            f"stage.batching=packed: one micro-batch holds stage.per_device_batch_size "
            f"x processes x samples per bin = {per_device} x {world_size} x {per_bin:.2f} = "
            f"{micro:.0f} samples, more than {OVERSHOOT:g} x stage.effective_batch_size={total}: "
            "lower stage.per_device_batch_size or stage.max_length (fewer samples per bin)"
        )
    low = max(1, math.floor(total / micro))
    return min((low, low + 1), key=lambda steps: abs(steps * micro - total))
