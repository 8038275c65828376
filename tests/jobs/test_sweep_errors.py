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
            ["stage.learning_rate=1e-4,2e-4", "hydra.callbacks.sweep.objective=eval/los"],
            "hydra.callbacks.sweep.objective='eval/los' is not a metric of the train job; known: "
            "eval/loss",
        ),
        (["stage.learning_rate=1e-4,2e-4", "hydra.callbacks.sweep.seeds=[1]"], "one seed"),
    ],
    ids=["missing-key", "slurm-without-partition", "misspelled-objective", "one-seed"],
)
def test_bad_sweep_setup(tmp_path: Path, overrides: list[str], message: str) -> None:
    sweep_dir = tmp_path / "sweep"
    result = cli("train", "-m", "model=tiny", *overrides, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 2
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("bioqwen: error:")]
    assert message in line
    assert not sweep_dir.exists()


@pytest.mark.slow  # two points that fail in their checks, ~15 s on a quiet machine
def test_a_sweep_whose_every_point_failed_exits_non_zero(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    result = cli(
        "train", "-m", "model=tiny", "method.lora.r=-1,-2", "tracking=disabled",
        f"hydra.sweep.dir={sweep_dir}",
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("bioqwen: error: every sweep point failed (2)")
    )
    assert "2 points, 0 ok, 2 failed" in (sweep_dir / "sweep_summary.md").read_text()
