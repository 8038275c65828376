"""Checkpoints and resume: a SIGKILLed run continues where its newest checkpoint left off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.tracking import read_offline_run
from tests.conftest import cli
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
    args = [*SETTINGS, f"data_dir={mix_dir}", "tracking=offline", f"hydra.run.dir={killed}"]
    # WANDB_SERVICE (set once this worker has tracked a run) would make both jobs share the
    # worker's wandb-core, which keeps the killed job's run open: "run ID ... is in use".
    # A job of its own gets a service of its own that dies with it, as on the command line.
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_SERVICE")}
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

    resumed = cli("train", *args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((killed / "metrics.json").read_text())
    assert metrics["train/global_step"] == STEPS
    lineage = json.loads((killed / "lineage.json").read_text())
    assert lineage["resumed_from"].endswith("checkpoint-4")
    # The resumed job continues the killed job's W&B run (same id, a second offline directory
    # that `wandb sync` uploads into it); its summary is metrics.json.
    runs = sorted(killed.glob("wandb/offline-run-*"), key=lambda p: p.stat().st_mtime)
    assert len(runs) == 2 and runs[0].name.split("-")[3] == runs[1].name.split("-")[3]
    resumed_run = read_offline_run(runs[1])
    assert resumed_run["complete"]
    assert {k: resumed_run["summary"].get(k) for k in metrics} == metrics
    assert sorted(row["_step"] for row in resumed_run["history"]) == list(range(5, STEPS + 1))
    expected, got = _losses(reference), _losses(killed)
    assert sorted(got) == sorted(expected) == list(range(1, STEPS + 1))
    # Steps 1-4 (before the kill, another process) match too: the seed fixes the adapter
    # initialisation, dropout and data order.
    for step in range(1, STEPS + 1):
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step


def test_a_resume_with_other_settings_stops_and_the_original_config_stays(
    tmp_path: Path, mix_dir: Path
) -> None:
    run_dir = tmp_path / "run"
    settings = ("stage.max_steps=2", "stage.save_steps=2", "stage.eval_steps=0")
    run_train(run_dir, mix_dir, *settings)
    original = (run_dir / "config.yaml").read_text()
    with pytest.raises(BioqwenError, match=r"stage\.learning_rate: 0\.0002 -> 0\.001"):
        run_train(run_dir, mix_dir, *settings, "resume=true", "stage.learning_rate=1e-3")
    assert (run_dir / "config.yaml").read_text() == original
    # Only resume-neutral keys differ: it resumes, keeping config.yaml and saving its own beside.
    run_train(run_dir, mix_dir, *settings, "resume=true")
    assert (run_dir / "config.yaml").read_text() == original
    assert "resume: true" in (run_dir / "config.resume-1.yaml").read_text()
