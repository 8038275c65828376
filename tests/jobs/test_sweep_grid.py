"""Real multiruns of the train job on the tiny model: grids, a failing point, submitit_local
running points side by side, seed replicates; each ends in the sweep summary."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from bioqwen.sweeps.point import sweep_group
from bioqwen.tracking import read_offline_run
from tests.conftest import cli

pytestmark = pytest.mark.slow

# A few optimizer steps on the shipped sample mix, evaluated every step.
TINY = (
    "model=tiny",
    "data/mix=sample",
    "stage.max_steps=2",
    "stage.logging_steps=1",
    "stage.eval_steps=1",
    "stage.per_device_batch_size=2",
    "stage.effective_batch_size=2",
    "max_train_samples=16",
    "max_eval_samples=4",
)


def sweep(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """`bioqwen train -m` on the tiny setup into sweep_dir."""
    return cli("train", "-m", *TINY, *overrides, f"hydra.sweep.dir={sweep_dir}", timeout=900)


def summary_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "sweep_summary.csv") as handle:
        return list(csv.DictReader(handle))


def point_runs(sweep_dir: Path) -> list[dict]:
    """The W&B run of every point, read back from its offline run file."""
    runs = sorted(sweep_dir.glob("[0-9]*/wandb/offline-run-*"))
    return [read_offline_run(run) for run in runs]


def test_grid_leaves_points_one_group_summary_and_heatmap(tmp_path: Path) -> None:
    result = sweep(tmp_path, "stage.learning_rate=1e-4,3e-3", "method.lora.r=4,8")
    assert result.returncode == 0, result.stderr[-3000:]
    points = sorted(p for p in tmp_path.iterdir() if p.name.isdigit())
    assert [p.name for p in points] == ["0", "1", "2", "3"]
    for point in points:
        assert json.loads((point / "status.json").read_text())["status"] == "ok"
        assert (point / "metrics.json").is_file() and (point / "adapter").is_dir()
    runs = point_runs(tmp_path)
    assert len(runs) == 4 and {run["group"] for run in runs} == {sweep_group(tmp_path)}
    swept = [(run["config"]["sweep"]["overrides"]["stage.learning_rate"],
              run["config"]["sweep"]["overrides"]["method.lora.r"]) for run in runs]  # fmt: skip
    expected = [("0.0001", "4"), ("0.0001", "8"), ("0.003", "4"), ("0.003", "8")]
    assert sorted(swept) == expected  # Hydra writes the swept floats in full
    assert all(f"method.lora.r={r}" in run["tags"] for run, (_, r) in zip(runs, swept, strict=True))
    rows = summary_rows(tmp_path)
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert all(float(r["best_eval_loss"]) <= float(r["final_eval_loss"]) for r in rows)
    assert all(float(r["tokens_per_s"]) > 0 and float(r["step_time_s"]) > 0 for r in rows)
    assert (
        "| point | method.lora.r | stage.learning_rate | status |"
        in (tmp_path / "sweep_summary.md").read_text()
    )
    assert matplotlib.image.imread(tmp_path / "sweep_heatmap.png").shape[2] == 4
    assert (tmp_path / "sweep_loss_curves.png").is_file()
    (summary_run,) = [read_offline_run(r) for r in tmp_path.glob("wandb/offline-run-*")]
    assert summary_run["group"] == sweep_group(tmp_path) and "job:sweep" in summary_run["tags"]
    assert summary_run["summary"]["sweep/summary/nrows"] == 4


def test_a_failing_point_is_recorded_and_the_others_complete(tmp_path: Path) -> None:
    result = sweep(tmp_path, "stage.learning_rate=1e-4", "method.lora.r=-1,4")
    assert result.returncode == 0, result.stderr[-3000:]
    failed, done = summary_rows(tmp_path)
    assert failed["status"] == "failed" and "-1" in failed["reason"]
    assert "\n" not in failed["reason"] and failed["final_eval_loss"] == ""
    assert done["status"] == "ok" and float(done["final_eval_loss"]) > 0
    assert "2 points, 1 ok, 1 failed" in (tmp_path / "sweep_summary.md").read_text()


def test_fail_fast_stops_the_sweep_at_the_first_failure(tmp_path: Path) -> None:
    result = sweep(
        tmp_path, "method.lora.r=-1,4", "hydra.callbacks.sweep.fail_fast=true", "tracking=disabled"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("bioqwen: error: sweep point")
    assert not (tmp_path / "1").exists() and not (tmp_path / "sweep_summary.md").exists()


def test_submitit_local_runs_two_points_at_once(tmp_path: Path) -> None:
    result = sweep(
        tmp_path,
        "hydra/launcher=local_parallel",
        "stage.learning_rate=1e-4,3e-3",
        "tracking=disabled",
        "hydra.callbacks.sweep.gpus=[0,1]",  # point i sees GPU i (no GPU here: none is used)
        "generation_eval.hook._target_=tests.sweeps.paced.hook",  # records CUDA_VISIBLE_DEVICES
        "generation_eval.every_steps=1",
        "+generation_eval.hook.seconds=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = (json.loads((tmp_path / n / "status.json").read_text()) for n in "01")
    assert first["status"] == second["status"] == "ok"
    assert first["pid"] != second["pid"]  # one process per point
    assert first["started"] < second["ended"] and second["started"] < first["ended"]  # overlap
    assert (tmp_path / ".submitit").is_dir() and len(summary_rows(tmp_path)) == 2
    seen = [json.loads((tmp_path / n / "metrics.json").read_text()) for n in "01"]
    assert [m["gen/cuda_visible_devices"] for m in seen] == [0, 1]


def test_seeds_replicate_every_point_and_the_summary_has_intervals(tmp_path: Path) -> None:
    result = sweep(
        tmp_path,
        "stage.learning_rate=1e-4,3e-3",
        "hydra.callbacks.sweep.seeds=[1,2]",
        "tracking=disabled",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = summary_rows(tmp_path)
    swept = [(r["stage.learning_rate"], r["seed"], r["status"]) for r in rows]
    assert swept == [("0.0001", "1", "ok"), ("0.0001", "2", "ok"), ("0.003", "1", "ok"),
                     ("0.003", "2", "ok")]  # fmt: skip
    configs = [yaml.safe_load((tmp_path / str(n) / "config.yaml").read_text()) for n in range(4)]
    assert [c["seed"] for c in configs] == [1, 2, 1, 2]  # the runs really used the seeds
    with open(tmp_path / "sweep_cells.csv") as handle:
        cells = list(csv.DictReader(handle))
    assert [(c["stage.learning_rate"], c["seeds"], c["n_ok"]) for c in cells] == [
        ("0.0001", "1 2", "2"),
        ("0.003", "1 2", "2"),
    ]
    assert all(float(c["ci95_low"]) <= float(c["mean"]) <= float(c["ci95_high"]) for c in cells)
    assert sorted(c["vs_best"] for c in cells)[0] == "best"
