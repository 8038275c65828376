"""Two CPU processes (gloo) under torchrun: one shared run directory, world-size-aware schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.conftest import ROOT


def test_two_processes_share_one_run_and_split_the_steps(tmp_path: Path, mix_dir: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "-m",
            "bioqwen.cli",
            "train",
            "model=tiny",
            f"data_dir={mix_dir}",
            "max_train_samples=48",
            "stage.epochs=1",
            "stage.per_device_batch_size=4",
            "stage.effective_batch_size=8",
            "stage.logging_steps=1",
            "tracking=disabled",
            # Each process stamps its own time: the job must still agree on rank 0's directory.
            f"hydra.run.dir={runs}/" + "${now:%H-%M-%S-%f}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = list(runs.iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # 48 samples / (4 per device x 2 processes) = 6 optimizer steps (12 on one process).
    assert metrics["batch/world_size"] == 2
    assert metrics["batch/effective_size"] == 8
    assert metrics["batch/total_steps"] == metrics["train/global_step"] == 6
    assert metrics["batch/warmup_steps"] == 1  # ceil(10 % of 6); one process: ceil(1.2) = 2
    # Throughput is summed over both processes: the 48 samples of the epoch, counted once each.
    samples = (
        metrics["perf/run_samples_per_s"]
        * metrics["perf/run_step_time_s"]
        * metrics["train/global_step"]
    )
    assert samples == pytest.approx(48)
    assert metrics["perf/run_tokens_per_s"] == pytest.approx(
        2 * metrics["perf/run_tokens_per_s_per_device"]
    )
    assert (run_dir / "adapter" / "adapter_config.json").exists()
