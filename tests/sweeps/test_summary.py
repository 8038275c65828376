"""The sweep summary read back from run directories: table, failures, heatmap, curves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml

from bioqwen import tracking
from bioqwen.sweeps.plots import value_format
from bioqwen.sweeps.summary import (
    CELLS_CSV,
    CURVES,
    HEATMAP,
    SUMMARY_CSV,
    SUMMARY_MD,
    read_sweep,
    render_sweep,
)


def make_point(
    sweep: Path, num: int, overrides: list[str], metrics: dict | None, status: dict | None
) -> Path:
    """A point directory as Hydra and the job leave it."""
    directory = sweep / str(num)
    (directory / ".hydra").mkdir(parents=True)
    (directory / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {"stage": {"learning_rate": 2e-4}, "method": {"lora": {"r": 64}}}
    (directory / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics))
    if status is not None:
        (directory / "status.json").write_text(json.dumps(status))
    return directory


def ok(loss: float) -> tuple[dict, dict]:
    metrics = {"eval/loss": loss, "perf/run_tokens_per_s": 1000.0, "perf/run_step_time_s": 0.5}
    return metrics, {"status": "ok", "reason": "", "wall_time_s": 12.0}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """2 learning rates x 2 ranks: three finished (one of them without status), one failed."""
    make_point(tmp_path, 0, ["model=tiny", "stage.learning_rate=1e-4", "method.lora.r=4"], *ok(3.0))
    make_point(tmp_path, 1, ["model=tiny", "stage.learning_rate=1e-4", "method.lora.r=8"], *ok(2.5))
    failed = {"status": "failed", "reason": "method.lora.r=-1: must be > 0", "wall_time_s": 1.0}
    make_point(
        tmp_path, 2, ["model=tiny", "stage.learning_rate=3e-4", "method.lora.r=4"], None, failed
    )
    make_point(
        tmp_path, 3, ["model=tiny", "stage.learning_rate=3e-4", "method.lora.r=8"], ok(2.0)[0], None
    )
    return tmp_path


def test_render_sweep_writes_one_line_per_point(sweep: Path) -> None:
    files = render_sweep(sweep)
    with open(sweep / SUMMARY_CSV) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["point"] for r in rows] == ["0", "1", "2", "3"]
    # Only the keys that vary are columns of their own; model=tiny stays in `overrides`.
    assert "model" not in rows[0] and rows[0]["overrides"].startswith("model=tiny")
    assert [r["method.lora.r"] for r in rows] == ["4", "8", "4", "8"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok"]
    assert rows[2]["reason"] == "method.lora.r=-1: must be > 0"
    assert [r["final_eval_loss"] for r in rows] == ["3.0", "2.5", "", "2.0"]
    assert rows[0]["tokens_per_s"] == "1000.0" and rows[0]["wall_time_s"] == "12.0"
    assert rows[3]["run_dir"] == str(sweep / "3")
    markdown = (sweep / SUMMARY_MD).read_text()
    assert "4 points, 3 ok, 1 failed" in markdown
    assert "| 2 | 4 | 3e-4 | failed | method.lora.r=-1: must be > 0 |" in markdown
    assert f"]({HEATMAP})" in markdown and f"]({CURVES})" in markdown
    for png in (files.heatmap, files.curves):
        assert matplotlib.image.imread(png).shape[2] == 4  # a real RGBA PNG


def test_point_without_status_or_metrics_is_failed(sweep: Path) -> None:
    make_point(sweep, 4, ["model=tiny", "stage.learning_rate=1e-3", "method.lora.r=4"], None, None)
    point = read_sweep(sweep)[-1]
    assert point.status == "failed" and "killed" in point.reason


def test_axis_value_falls_back_to_the_composed_config(sweep: Path) -> None:
    point = read_sweep(sweep)[0]
    assert point.value("method.lora.r") == "4"  # swept: the override
    assert point.value("stage.max_steps") is None
    assert read_sweep(sweep)[0].label == "lora.r=4, stage.learning_rate=1e-4"


def test_best_eval_loss_comes_from_the_wandb_history(tmp_path: Path) -> None:
    directory = make_point(tmp_path, 0, ["stage.learning_rate=1e-4"], *ok(2.5))
    tracker = tracking.start({"mode": "offline"}, directory, {}, "train")
    for step, loss in enumerate([3.0, 2.0, 2.5], start=1):
        tracker.log({"eval/loss": loss, "train/loss": loss + 0.1}, step=step)
    tracker.finish()
    (point,) = read_sweep(tmp_path)
    assert [row["eval/loss"] for row in point.history] == [3.0, 2.0, 2.5]
    assert point.best("eval/loss") == 2.0 and point.metric("eval/loss") == 2.5


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no sweep points"):
        render_sweep(tmp_path)


def test_heatmap_labels_tell_close_values_apart() -> None:
    fmt = value_format(np.array([[6.94353, 6.94101], [np.nan, 6.94349]]))
    labels = {fmt % v for v in (6.94353, 6.94101, 6.94349)}
    assert len(labels) == 3  # 4 significant digits would print 6.944 twice
    assert value_format(np.array([2.5, np.nan])) == "%.4g"


def test_the_summary_names_the_sweep_group(sweep: Path) -> None:
    render_sweep(sweep)
    assert (
        f"W&B group `sweep-{str(sweep).strip('/').replace('/', '-')}`"
        in (sweep / SUMMARY_MD).read_text()
    )
    render_sweep(sweep, group="lr-study")  # tracking.group=lr-study named it
    assert "W&B group `lr-study`" in (sweep / SUMMARY_MD).read_text()


def test_seed_replicates_make_cells_with_intervals(tmp_path: Path) -> None:
    losses = {("1e-4", "1"): 3.00, ("1e-4", "2"): 3.02, ("3e-4", "1"): 2.00, ("3e-4", "2"): 2.01}
    for num, ((lr, seed), loss) in enumerate(losses.items()):
        make_point(tmp_path, num, [f"stage.learning_rate={lr}", f"seed={seed}"], *ok(loss))
    make_point(tmp_path, 4, ["stage.learning_rate=1e-3", "seed=1"], *ok(2.005))
    make_point(tmp_path, 5, ["stage.learning_rate=1e-3", "seed=2"], *ok(2.03))
    files = render_sweep(tmp_path)
    with open(tmp_path / CELLS_CSV) as handle:
        cells = {r["stage.learning_rate"]: r for r in csv.DictReader(handle)}
    assert cells["1e-4"]["seeds"] == "1 2" and cells["1e-4"]["n_ok"] == "2"
    assert float(cells["1e-4"]["mean"]) == pytest.approx(3.01)
    assert float(cells["1e-4"]["sd"]) == pytest.approx(0.02 / 2**0.5)
    low, high = float(cells["1e-4"]["ci95_low"]), float(cells["1e-4"]["ci95_high"])
    assert (high - low) / 2 == pytest.approx(12.7062 * 0.01, rel=1e-4)  # t(0.975, 1) * sd / sqrt 2
    assert {k: c["vs_best"] for k, c in cells.items()} == {
        "1e-4": "worse",
        "3e-4": "best",
        "1e-3": "within noise",
    }
    markdown = (tmp_path / SUMMARY_MD).read_text()
    assert "### Seeds: eval/loss per cell" in markdown
    assert "| 3e-4 | 1 2 | 2 | 2.005 |" in markdown
    assert "Best point: 2 (seed=1, stage.learning_rate=3e-4), eval/loss 2." in markdown
    assert matplotlib.image.imread(files.heatmap).shape[2] == 4
    cells_of = [p.cell for p in read_sweep(tmp_path)]  # replicates share a colour in the curves
    assert cells_of[0] == cells_of[1] == "stage.learning_rate=1e-4" != cells_of[2]


def test_a_grid_without_seeds_has_no_cell_table(sweep: Path) -> None:
    render_sweep(sweep)
    assert not (sweep / CELLS_CSV).exists()
    assert "### Seeds" not in (sweep / SUMMARY_MD).read_text()


def test_pruned_points_are_counted_apart_from_failures(sweep: Path) -> None:
    pruned = {"status": "pruned", "reason": "pruned at step 4: eval/loss 6.9", "wall_time_s": 3.0}
    make_point(sweep, 4, ["model=tiny", "stage.learning_rate=1e-3", "method.lora.r=4"],
               ok(6.9)[0], pruned)  # fmt: skip
    files = render_sweep(sweep)
    assert "5 points, 3 ok, 1 failed, 1 pruned" in files.markdown.read_text()
    assert "Best point: 3 (lora.r=8, stage.learning_rate=3e-4), eval/loss 2." in (
        files.markdown.read_text()
    )


def test_points_with_the_same_values_get_their_number_in_the_label(tmp_path: Path) -> None:
    for num, lr in enumerate(["1e-4", "3e-4", "3e-4"]):
        make_point(tmp_path, num, [f"stage.learning_rate={lr}"], *ok(2.0))
    labels = [p.label for p in read_sweep(tmp_path)]
    assert labels == [
        "stage.learning_rate=1e-4",
        "stage.learning_rate=3e-4 (#1)",
        "stage.learning_rate=3e-4 (#2)",
    ]


def test_scheduler_events_are_rows_with_state_and_job_id(tmp_path: Path) -> None:
    """Under SLURM: a point cancelled while running (no status.json), one cancelled before it
    started (only the launcher's files), one still pending, one finished."""
    log = "/sweep/.submitit/7_0/7_0_0_log.out"
    rows = [
        ({"job_id": "7_0", "state": "CANCELLED", "log": log, "started": 1.0}, None),
        ({"job_id": "7_1", "state": "TIMEOUT", "log": log, "started": 1.0}, None),
        ({"job_id": "7_2", "state": "CANCELLED", "log": log, "started": None}, None),
        ({"job_id": "7_3", "state": "PENDING", "log": log, "started": None}, None),
        ({"job_id": "7_4", "state": "COMPLETED", "log": log, "started": 1.0}, ok(2.0)),
    ]
    for num, (slurm, done) in enumerate(rows):
        metrics, status = done or (None, None)
        point = make_point(tmp_path, num, [f"stage.learning_rate={num}e-4"], metrics, status)
        (point / "slurm.json").write_text(json.dumps(slurm))
    files = render_sweep(tmp_path)
    table = [dict(zip(files.columns, row, strict=True)) for row in files.rows]
    assert files.columns[:5] == ["point", "stage.learning_rate", "status", "slurm_state", "job_id"]
    assert [(r["status"], r["slurm_state"], r["job_id"]) for r in table] == [
        ("cancelled", "CANCELLED", "7_0"),
        ("timeout", "TIMEOUT", "7_1"),
        ("cancelled", "CANCELLED", "7_2"),
        ("pending", "PENDING", "7_3"),
        ("ok", "COMPLETED", "7_4"),
    ]
    assert table[0]["reason"] == f"SLURM CANCELLED while running; log {log}"
    assert "before it started" in table[2]["reason"]
    text = (tmp_path / SUMMARY_MD).read_text()
    assert "5 points, 1 ok, 2 cancelled, 1 pending, 1 timeout" in text
    assert matplotlib.image.imread(tmp_path / HEATMAP).shape[2] == 4


def test_local_sweeps_have_no_slurm_columns(sweep: Path) -> None:
    assert "slurm_state" not in render_sweep(sweep).columns
