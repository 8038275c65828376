"""Loss regression (torchtune style): a few steps of the tiny model through the real config
must reproduce the stored per-step losses.

The stored curve changes only with an intended change of the training path (loss, data
order, initialisation, schedule); regenerate it then, and say why in the commit:
    PYTHONPATH=. OMP_NUM_THREADS=1 python -m tests.train.test_loss_regression
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import offline_run
from tests.train.conftest import run_train, save_mix

CURVE = Path(__file__).resolve().parents[1] / "fixtures" / "train" / "tiny_loss_curve.json"
COMMAND = "PYTHONPATH=. OMP_NUM_THREADS=1 python -m tests.train.test_loss_regression"
# A learning rate high enough that the curve moves well beyond the tolerance in 6 steps.
OVERRIDES = ("stage.max_steps=6", "stage.learning_rate=2e-3", "stage.eval_steps=0")
# Float summation order differs across CPUs and BLAS builds; a real change moves losses by more.
TOLERANCE = 2e-3


def logged_losses(base: Path) -> dict[int, float]:
    """Train through the job on a fresh synthetic mix and return the logged loss per step."""
    data = save_mix(base / "data", 64, 8)
    run_dir = base / "run"
    run_train(run_dir, data, *OVERRIDES, "tracking=offline")
    history = offline_run(run_dir)["history"]
    return {int(row["_step"]): row["train/loss"] for row in history if "train/loss" in row}


def test_tiny_model_loss_curve_matches_the_stored_one(tmp_path: Path) -> None:
    stored = json.loads(CURVE.read_text())
    assert stored["overrides"] == list(OVERRIDES), f"re-run `{COMMAND}`"
    expected = {int(step): loss for step, loss in stored["losses"].items()}
    got = logged_losses(tmp_path)
    assert sorted(got) == sorted(expected)
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, abs=TOLERANCE), step
    # The curve has a direction: a run that trains nothing would not match it.
    assert expected[max(expected)] < expected[1] - 10 * TOLERANCE


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        losses = logged_losses(Path(scratch))
    CURVE.parent.mkdir(parents=True, exist_ok=True)
    record = {"command": COMMAND, "overrides": list(OVERRIDES), "losses": losses}
    CURVE.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {CURVE}", file=sys.stderr)
