"""A sweep set up wrong stops before any point runs: one error line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stage.learnin_rate=1e-4,2e-4"], "swept key 'stage.learnin_rate' does not exist"),
        (["hydra/launcher=slurm", "stage.learning_rate=1e-4,2e-4"], "hydra.launcher.partition"),
        (
            ["hydra/sweeper=optuna_lr_lora", "stage.learning_rate=tag(log, interval(0, 1e-3))"],
            "Optuna search space 'stage.learning_rate=tag(log, interval(0, 1e-3))'",
        ),
    ],
    ids=["missing-key", "slurm-without-partition", "invalid-optuna-distribution"],
)
def test_bad_sweep_setup(tmp_path: Path, overrides: list[str], message: str) -> None:
    sweep_dir = tmp_path / "sweep"
    result = cli("train", "-m", "model=tiny", *overrides, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 2
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("bioqwen: error:")]
    assert message in line
    assert not sweep_dir.exists()
