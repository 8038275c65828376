"""What one batch element is, and how many of them make an optimizer step.

In `pad` and `padding_free` batching a batch element is one sample, and gradient accumulation
is stage.effective_batch_size / (per-device batch x processes). In `packed` batching it is a bin
of up to stage.max_length tokens holding several whole samples: the training split is packed
here, once, with TRL's best-fit-decreasing strategy (the trainer gets the bins and does not pack
again), and accumulation is sized from the mean samples per bin k so that per-device batch x
accumulation x processes x k comes as close as it can to stage.effective_batch_size samples.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc
from datasets import Dataset

from bioqwen.train.accumulation import accumulation_steps, packed_accumulation

log = logging.getLogger("bioqwen.train")


@dataclass(frozen=True)
class BatchPlan:
    """The rows the trainer draws (samples, or bins of samples) and how many make a step."""

    train: Dataset
    accumulation: int
    samples_per_bin: float  # 1.0 unless packed (a sample is then its own batch element)
    elements_per_step: int  # per-device batch x accumulation x processes

    def metrics(self) -> dict[str, float]:
        """metrics.json / W&B summary keys: mean samples per batch element and per step."""
        return {
            "batch/samples_per_bin": self.samples_per_bin,
            "batch/effective_samples": self.elements_per_step * self.samples_per_bin,
        }


def pack(train: Dataset, max_length: int) -> Dataset:
    """Bin whole samples into rows of at most max_length tokens as SFTTrainer would (TRL's BFD,
    in its batches of 1000 rows); `seq_lengths` keeps each bin's sample boundaries."""
    from trl.data_utils import pack_dataset

    return pack_dataset(train.select_columns(["input_ids", "labels"]), max_length, "bfd")


def samples_per_bin(bins: Dataset) -> float:
    """Mean number of samples in a bin of a packed split."""
    lengths = bins.with_format("arrow")[:]["seq_lengths"]
    samples = pc.sum(pc.list_value_length(lengths)).as_py()
    return float(samples) / max(len(bins), 1)


def plan_batches(stage: Mapping[str, Any], train: Dataset, world_size: int) -> BatchPlan:
    """The training rows and accumulation of a stage: packed bins sized by their samples, or
    the samples themselves with accumulation from the effective batch."""
    per_step = int(stage["per_device_batch_size"]) * world_size
    if stage["batching"] != "packed":
        accumulation = accumulation_steps(stage, world_size)
        return BatchPlan(train, accumulation, 1.0, per_step * accumulation)
    bins = pack(train, int(stage["max_length"]))
    per_bin = samples_per_bin(bins)
    accumulation = packed_accumulation(stage, world_size, per_bin)
    plan = BatchPlan(bins, accumulation, per_bin, per_step * accumulation)
    log.info(
        "packed %d samples into %d bins (%.2f per bin): %d accumulation steps, %.1f samples "
        "per optimizer step (stage.effective_batch_size=%s)",
        len(train),
        len(bins),
        per_bin,
        accumulation,
        plan.metrics()["batch/effective_samples"],
        stage["effective_batch_size"],
    )
    return plan
