"""Packed batching: bins sized so an optimizer step holds about effective_batch_size samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from datasets import Dataset

from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import plain
from bioqwen.train.bins import plan_batches
from bioqwen.train.trainer import check_stage, sft_config
from tests.train.conftest import compose_train, run_train

MAX_LENGTH = 100


def _samples(lengths: list[int]) -> Dataset:
    """Tokenized samples of the given lengths (ids count up; the first token is unlabelled)."""
    rows = [list(range(1, n + 1)) for n in lengths]
    return Dataset.from_dict({"input_ids": rows, "labels": [[-100, *ids[1:]] for ids in rows]})


def _stage(tmp_path: Path, batching: str, per_device: int, effective: int) -> dict:
    overrides = (
        f"stage.batching={batching}",
        f"stage.per_device_batch_size={per_device}",
        f"stage.effective_batch_size={effective}",
        f"stage.max_length={MAX_LENGTH}",
    )
    return plain(compose_train(tmp_path, "model=tiny", *overrides).stage)


def test_bins_hold_every_sample_once_within_max_length(tmp_path):
    # 24 samples of 25 tokens: best fit puts exactly 4 in each bin of 100.
    plan = plan_batches(_stage(tmp_path, "packed", 2, 64), _samples([25] * 24), 1)
    assert len(plan.train) == 6 and plan.samples_per_bin == 4.0
    assert all(sum(lengths) <= MAX_LENGTH for lengths in plan.train["seq_lengths"])
    assert sorted(i for ids in plan.train["input_ids"] for i in ids) == sorted(
        list(range(1, 26)) * 24
    )
    # 2 bins x 4 samples per micro-batch: 8 accumulation steps make the 64 samples.
    assert plan.accumulation == 8
    assert plan.metrics() == {"batch/samples_per_bin": 4.0, "batch/effective_samples": 64.0}


@pytest.mark.parametrize(
    ("per_device", "world", "effective"), [(1, 1, 10), (1, 1, 64), (2, 2, 64), (4, 1, 64)]
)
def test_a_packed_step_holds_about_the_effective_batch_of_samples(
    tmp_path, per_device, world, effective
):
    lengths = [5 + (17 * i) % 90 for i in range(200)]  # 5..94 tokens, mixed
    stage = _stage(tmp_path, "packed", per_device, effective)
    plan = plan_batches(stage, _samples(lengths), world)
    assert plan.samples_per_bin == 200 / len(plan.train) > 1.5
    planned = plan.metrics()["batch/effective_samples"]
    assert planned == pytest.approx(per_device * plan.accumulation * world * plan.samples_per_bin)
    # Accumulation is the nearest whole number of micro-batches: within half a micro-batch
    # (one bin per process and step, when each process takes one bin at a time).
    micro = per_device * world * plan.samples_per_bin
    assert abs(planned - effective) <= micro / 2
    if per_device * world == 1:
        assert abs(planned - effective) <= plan.samples_per_bin
    # Bins counted as samples (the old plan) would take far more samples per step.
    assert plan.accumulation < effective // (per_device * world)


def test_a_micro_batch_of_more_samples_than_the_effective_batch_is_an_error(tmp_path):
    stage = _stage(tmp_path, "packed", 4, 8)
    message = r"4 x 1 x 4\.00 = 16 samples, more than 1\.5 x stage\.effective_batch_size=8"
    with pytest.raises(BioqwenError, match=message):
        plan_batches(stage, _samples([25] * 24), 1)
    with pytest.raises(BioqwenError, match=r"lower stage\.per_device_batch_size or stage\.max_len"):
        plan_batches(stage, _samples([25] * 24), 1)


def test_pad_modes_keep_one_sample_per_batch_element(tmp_path):
    samples = _samples([25] * 24)
    for batching in ("pad", "padding_free"):
        plan = plan_batches(_stage(tmp_path, batching, 2, 64), samples, 2)
        assert plan.train is samples and plan.accumulation == 16
        assert plan.metrics() == {"batch/samples_per_bin": 1.0, "batch/effective_samples": 64.0}
    # Samples must divide evenly there; packed accumulation is rounded from the bins instead.
    with pytest.raises(BioqwenError, match="not a multiple"):
        check_stage(_stage(tmp_path, "pad", 4, 10))
    check_stage(_stage(tmp_path, "packed", 4, 10))


def test_trl_gets_the_bins_as_they_are(tmp_path):
    stage = _stage(tmp_path, "packed", 2, 64)
    method = {"gradient_checkpointing": False}
    args = sft_config(stage, method, tmp_path, 42, "fp32", False, accumulation=3)
    # Packed once by bins.plan_batches: TRL neither packs again nor truncates its rows.
    assert not args.packing and args.padding_free and args.max_length is None
    assert args.gradient_accumulation_steps == 3
    with pytest.raises(ValueError, match="plan_batches"):
        sft_config(stage, method, tmp_path, 42, "fp32", False)


def test_a_packed_run_takes_the_planned_steps(tmp_path, mix_dir):
    # The 64 fixture samples fill 11 bins of 1024 tokens (5.8 per bin): 2 bins per step.
    summary = run_train(
        tmp_path / "run",
        mix_dir,
        "stage.batching=packed",
        "stage.per_device_batch_size=1",
        "stage.effective_batch_size=12",
        "stage.max_steps=-1",
        "stage.epochs=1",
        "stage.eval_steps=0",
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == summary
    samples, per_bin = summary["data/train_samples"], summary["batch/samples_per_bin"]
    bins = round(samples / per_bin)
    assert (bins, summary["batch/gradient_accumulation_steps"]) == (11, 2)
    assert summary["batch/effective_samples"] == pytest.approx(2 * per_bin)
    assert summary["train/global_step"] == math.ceil(bins / 2) == 6
    # Each sample is trained on once: the measured samples per step average to them.
    measured = summary["perf/run_samples_per_step"]
    assert measured * summary["train/global_step"] == pytest.approx(samples)
