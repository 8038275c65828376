"""The sweep summary: one line per point, a heatmap and the loss curves, in the sweep directory.

The sweep callback (bioqwen.sweeps.callback) calls `render_sweep` when a multirun ends and
`log_to_wandb` logs the table and figures as one W&B run in the sweep's group.
`render_sweep` works on any sweep directory, so the report job (and offline users) can redo
it later. Each point is read from its run directory only: Hydra's
`.hydra/overrides.yaml`, the job's `status.json` and `metrics.json`, the W&B run file's
history (`bioqwen.tracking.read_offline_run`), and under SLURM `slurm.json` (job id and state,
written by bioqwen.sweeps.launcher): a point that SLURM ended (cancelled, timed out, preempted,
node failure) or that has not ended yet is a row with that state.

Points that differ only in `seed` are replicates of one cell: the summary adds a table of
cells (mean, standard deviation, 95 % t-interval, within seed noise of the best or not) and
sweep_cells.csv, and the heatmap shows mean ± sd per cell (bioqwen.sweeps.cells).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bioqwen import tracking
from bioqwen.config import SweepHeatmap
from bioqwen.runs import METRICS_FILE, atomic_write_text, read_json
from bioqwen.sweeps import plots
from bioqwen.sweeps.cells import CellStats, verdicts
from bioqwen.sweeps.point import SLURM_FILE, STATUS_FILE, split_override, sweep_group
from bioqwen.tabular import markdown_table, write_csv

# Statuses of points whose SLURM job may still run (its state, lower case).
NOT_ENDED = ("pending", "running", "requeued", "configuring", "completing", "suspended")
# SLURM job state -> the summary's status of a point that recorded none itself.
SCHEDULER_STATUS = {
    "CANCELLED": "cancelled",
    "TIMEOUT": "timeout",
    "PREEMPTED": "preempted",
    "NODE_FAIL": "node_fail",
    "OUT_OF_MEMORY": "out_of_memory",
    "BOOT_FAIL": "node_fail",
}

log = logging.getLogger("bioqwen.sweeps")

SUMMARY_MD, SUMMARY_CSV = "sweep_summary.md", "sweep_summary.csv"
CELLS_CSV = "sweep_cells.csv"
HEATMAP, CURVES = "sweep_heatmap.png", "sweep_loss_curves.png"
SEARCH_NOTE = "search.md"  # what an Optuna search (bioqwen search) says about its study
SEED_KEY = "seed"  # points that differ only here are replicates of one cell
# Summary column -> metrics.json key (the train job's names).
METRIC_COLUMNS = {
    "final_eval_loss": "eval/loss",
    "tokens_per_s": "perf/run_tokens_per_s",
    "step_time_s": "perf/run_step_time_s",
}


@dataclass
class Point:
    """One point of a sweep as its run directory records it."""

    dir: Path
    overrides: dict[str, str]
    status: str
    reason: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    wall_time_s: float | None
    config: DictConfig = field(repr=False)
    label: str = ""
    cell: str = ""  # the label without the seed: seed replicates share a colour in the curves
    slurm_state: str = ""  # the scheduler's last word on the point's job; "" when not SLURM
    job_id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the point finished."""
        return self.status == "ok"

    def value(self, key: str) -> Any:
        """A config value of this point: its override, else its composed config's value."""
        if key in self.overrides:
            return self.overrides[key]
        return OmegaConf.select(self.config, key, default=None, throw_on_resolution_failure=False)

    def metric(self, key: str) -> float | None:
        """A numeric final metric, or None."""
        value = self.metrics.get(key)
        return float(value) if isinstance(value, int | float) and not math.isnan(value) else None

    def best(self, key: str) -> float | None:
        """The lowest value of `key` over the logged history and the final metrics."""
        seen = [float(row[key]) for row in self.history if isinstance(row.get(key), int | float)]
        final = self.metric(key)
        seen += [final] if final is not None else []
        return min(seen) if seen else None


def _history(directory: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    runs = [p for p in directory.glob("wandb/*run-*") if p.is_dir() and not p.is_symlink()]
    for run in sorted(runs, key=lambda p: p.stat().st_mtime):
        try:
            rows += tracking.read_offline_run(run)["history"]
        except (ValueError, OSError) as err:  # a run file still being written, or foreign
            log.warning("cannot read W&B history under %s: %s", run, err)
    return rows


def read_point(directory: Path) -> Point:
    """Read one point's run directory."""
    hydra_dir = directory / ".hydra"
    overrides = OmegaConf.load(hydra_dir / "overrides.yaml")
    config_file = hydra_dir / "config.yaml"
    config = OmegaConf.load(config_file) if config_file.is_file() else OmegaConf.create()
    assert isinstance(config, DictConfig)  # a job's composed config is a mapping
    metrics = read_json(directory / METRICS_FILE) if (directory / METRICS_FILE).is_file() else {}
    slurm = read_json(directory / SLURM_FILE) if (directory / SLURM_FILE).is_file() else {}
    if (directory / STATUS_FILE).is_file():
        status = read_json(directory / STATUS_FILE)
    elif metrics:
        status = {"status": "ok"}
    elif slurm:
        started = bool(slurm.get("started")) or (directory / "config.yaml").is_file()
        status = scheduler_status(slurm, started)
    else:
        status = {"status": "failed", "reason": "no status.json: killed, or still running"}
    return Point(
        dir=directory,
        overrides=dict(split_override(str(o)) for o in overrides),
        status=str(status["status"]),
        reason=str(status.get("reason", "")),
        metrics=metrics,
        history=_history(directory),
        wall_time_s=status.get("wall_time_s", metrics.get("train/runtime_s")),
        config=config,
        slurm_state=str(slurm.get("state", "")),
        job_id=str(slurm.get("job_id", "")),
    )


def scheduler_status(slurm: dict[str, Any], started: bool) -> dict[str, str]:
    """A point's status from its SLURM state when the point itself recorded none."""
    state = str(slurm.get("state", "UNKNOWN"))
    if state.lower() in NOT_ENDED:
        return {"status": state.lower(), "reason": "not ended yet"}
    when = "while running" if started else "before it started"
    name = SCHEDULER_STATUS.get(state, "failed")
    return {"status": name, "reason": f"SLURM {state} {when}; log {slurm.get('log', '')}"}


def _order(directory: Path) -> tuple[int, str]:
    return (int(directory.name), "") if directory.name.isdigit() else (1 << 30, directory.name)


def read_sweep(sweep_dir: str | Path) -> list[Point]:
    """Every point under a sweep directory (a dir with .hydra/overrides.yaml), in job order."""
    found = [p.parent.parent for p in Path(sweep_dir).glob("*/.hydra/overrides.yaml")]
    points = [read_point(d) for d in sorted(found, key=_order)]
    swept = varying_keys(points)
    for p in points:
        p.label = ", ".join(f"{_short_key(k)}={_cell(p.overrides.get(k, '-'))}" for k in swept)
        p.label = p.label or p.dir.name
    for p in points:
        p.cell = ", ".join(f"{k}={p.overrides.get(k, '-')}" for k in swept if k != SEED_KEY)
    labels = [p.label for p in points]
    for p in points:  # a search can draw the same values twice: the point number tells them apart
        if labels.count(p.label) > 1:
            p.label = f"{p.label} (#{p.dir.name})"
    return points


def _short_key(key: str) -> str:
    """`method.lora.r` -> `lora.r`: enough to tell the swept keys apart in a legend."""
    return ".".join(key.split(".")[-2:])


def varying_keys(points: list[Point]) -> list[str]:
    """The override keys whose values differ between points (the swept axes)."""
    keys = sorted({k for p in points for k in p.overrides})
    return [k for k in keys if len({p.overrides.get(k) for p in points}) > 1]


def cell_keys(points: list[Point]) -> list[str]:
    """The swept axes that make a cell (every varying key but the seed)."""
    return [k for k in varying_keys(points) if k != SEED_KEY]


def cell_table(points: list[Point], metric: str) -> tuple[list[str], list[list[Any]]]:
    """One row per cell of seed replicates: n, mean, sd, 95 % interval, verdict vs the best."""
    keys = cell_keys(points)
    groups: dict[tuple[str, ...], list[Point]] = {}
    for p in points:
        groups.setdefault(tuple(str(p.overrides.get(k, "")) for k in keys), []).append(p)
    cells = [
        CellStats(tuple(v for p in group if p.ok and (v := p.metric(metric)) is not None))
        for group in groups.values()
    ]
    columns = [*keys, "seeds", "n_ok", "mean", "sd", "ci95_low", "ci95_high", "vs_best"]
    rows = []
    for (values, group), cell, verdict in zip(groups.items(), cells, verdicts(cells), strict=True):
        seeds = " ".join(str(p.overrides.get(SEED_KEY, "")) for p in group)
        low, high = cell.interval
        numbers = [None if math.isnan(v) else v for v in (cell.mean, cell.sd, low, high)]
        rows.append([*values, seeds, cell.n, *numbers, verdict])
    return columns, rows


def best_point(points: list[Point], metric: str) -> Point | None:
    """The finished point with the lowest `metric`."""
    done = [p for p in points if p.ok and p.metric(metric) is not None]
    return min(done, key=lambda p: p.metric(metric) or 0.0) if done else None


def summary_table(points: list[Point]) -> tuple[list[str], list[list[Any]]]:
    """The summary's columns and one row per point."""
    swept = varying_keys(points)
    measured = ["final_eval_loss", "best_eval_loss", "tokens_per_s", "step_time_s", "wall_time_s"]
    slurm = ["slurm_state", "job_id"] if any(p.job_id for p in points) else []
    columns = ["point", *swept, "status", *slurm, "reason", *measured, "overrides", "run_dir"]
    rows = []
    for p in points:
        values = {name: p.metric(key) for name, key in METRIC_COLUMNS.items()}
        values.update(best_eval_loss=p.best("eval/loss"), wall_time_s=p.wall_time_s)
        overrides = " ".join(f"{k}={v}" for k, v in p.overrides.items())
        scheduler = [p.slurm_state, p.job_id] if slurm else []
        head = [p.dir.name, *(p.overrides.get(k) for k in swept), p.status, *scheduler, p.reason]
        rows.append([*head, *(values[m] for m in measured), overrides, str(p.dir)])
    return columns, rows


def _cell(value: Any) -> str:
    """A Markdown cell: losses to 6 digits (close points differ late), long sampled values short."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    try:
        return f"{float(text):.4g}" if len(text) > 10 else text.replace("|", "\\|")
    except ValueError:
        return text.replace("|", "\\|")


def _markdown_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    return [markdown_table(columns, [[_cell(v) for v in row] for row in rows]), ""]


@dataclass(frozen=True)
class SweepFiles:
    """What render_sweep wrote, and the table it holds."""

    markdown: Path
    csv: Path
    heatmap: Path
    curves: Path
    columns: list[str]
    rows: list[list[Any]]


def render_sweep(
    sweep_dir: str | Path, heatmap: SweepHeatmap | None = None, group: str | None = None
) -> SweepFiles:
    """Write sweep_summary.md/.csv, the heatmap (default: the sweep settings' defaults) and the
    loss curves (`group`: the sweep's W&B group when tracking.group named one)."""
    sweep_dir = Path(sweep_dir)
    heatmap = heatmap or SweepHeatmap()
    metric, x, y = heatmap.metric, heatmap.x, heatmap.y
    points = read_sweep(sweep_dir)
    if not points:
        raise FileNotFoundError(f"{sweep_dir}: no sweep points (no */.hydra/overrides.yaml)")
    columns, rows = summary_table(points)
    csv_path = write_csv(sweep_dir / SUMMARY_CSV, columns, rows)
    replicated = SEED_KEY in varying_keys(points)
    heat = plots.heatmap(points, metric, x, y, sweep_dir / HEATMAP, replicates=replicated)
    curves = plots.loss_curves(points, sweep_dir / CURVES)
    counts = Counter(p.status for p in points)
    others = "".join(f", {n} {status}" for status, n in sorted(counts.items()) if status != "ok")
    lines = [
        f"# Sweep {sweep_dir}",
        "",
        f"{len(points)} points, {counts['ok']} ok{others or ', 0 failed'}; "
        f"W&B group `{group or sweep_group(sweep_dir)}`.",
        "",
    ]
    if (sweep_dir / SEARCH_NOTE).is_file():
        lines += [(sweep_dir / SEARCH_NOTE).read_text(encoding="utf-8").strip(), ""]
    best = best_point(points, metric)
    if best is not None and not (sweep_dir / SEARCH_NOTE).is_file():  # a search names its best
        lines += [
            f"Best point: {best.dir.name} ({best.label}), {metric} {_cell(best.metric(metric))}.",
            "",
        ]
    lines += _markdown_table(columns[:-2], [row[:-2] for row in rows])  # overrides, run dir: CSV
    if replicated:
        cell_columns, cell_rows = cell_table(points, metric)
        write_csv(sweep_dir / CELLS_CSV, cell_columns, cell_rows)
        lines += [
            f"### Seeds: {metric} per cell",
            "",
            "Mean, sample standard deviation and 95 % t-interval over the seeds that finished; "
            "`within noise`: the 95 % Welch interval of the difference from the best cell "
            "contains 0, so the seeds cannot tell the two apart.",
            "",
            *_markdown_table(cell_columns, cell_rows),
        ]
    lines += [f"![{metric} over {x} x {y}]({HEATMAP})", "", f"![loss curves]({CURVES})", ""]
    md_path = atomic_write_text(sweep_dir / SUMMARY_MD, "\n".join(lines))
    return SweepFiles(md_path, csv_path, heat, curves, columns, rows)


def log_to_wandb(tracking_cfg: dict[str, Any], files: SweepFiles, sweep_dir: Path) -> None:
    """Log the summary table and figures as one W&B run (job `sweep`) in the sweep's group."""
    tracker = tracking.start(
        tracking_cfg,
        sweep_dir,
        {"sweep_dir": str(sweep_dir)},
        "sweep",
        name=f"{sweep_group(sweep_dir)}-summary",
        group=sweep_group(sweep_dir),
    )
    if not tracker.enabled:
        return
    import wandb

    tracker.table("sweep/summary", files.columns, files.rows)
    tracker.log(
        {
            "sweep/heatmap": wandb.Image(str(files.heatmap)),
            "sweep/loss_curves": wandb.Image(str(files.curves)),
        }
    )
    tracker.finish()
