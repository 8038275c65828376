"""Checkpoints and resume: a SIGKILLed run continues where its newest checkpoint left off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.conftest import FAST, ROOT, run_train

STEPS = 8
SETTINGS = (*FAST, f"stage.max_steps={STEPS}", "stage.save_steps=2", "stage.eval_steps=0")


def _losses(run_dir: Path) -> dict[int, float]:
    state = json.loads(
        (run_dir / "checkpoints" / f"checkpoint-{STEPS}" / "trainer_state.json").read_text()
    )
    return {row["step"]: row["loss"] for row in state["log_history"] if "loss" in row}


def test_killed_run_resumes_from_newest_checkpoint(tmp_path: Path, mix_dir: Path) -> None:
    reference = tmp_path / "reference"
    run_train(reference, mix_dir, *SETTINGS)
    killed = tmp_path / "killed"
    args = [*SETTINGS, f"data_dir={mix_dir}", "tracking=disabled", f"hydra.run.dir={killed}"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    script = str(Path(__file__).with_name("kill_after_checkpoint.py"))
    done = subprocess.run(
        [sys.executable, script, "4", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    checkpoints = sorted(p.name for p in (killed / "checkpoints").glob("checkpoint-*"))
    assert checkpoints[-1] == "checkpoint-4" and not (killed / "metrics.json").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "bioqwen.cli", "train", *args, "resume=true"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((killed / "metrics.json").read_text())
    assert metrics["train/global_step"] == STEPS
    lineage = json.loads((killed / "lineage.json").read_text())
    assert lineage["resumed_from"].endswith("checkpoint-4")
    expected, got = _losses(reference), _losses(killed)
    assert sorted(got) == sorted(expected) == list(range(1, STEPS + 1))
    # Steps 1-4 (before the kill, another process) match too: the seed fixes the adapter
    # initialisation, dropout and data order.
    for step in range(1, STEPS + 1):
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step
