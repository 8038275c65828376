"""What a report reads: run directories or W&B runs (filtered to usable ones) and sweeps."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bioqwen.config import SweepHeatmap
from bioqwen.errors import BioqwenError
from bioqwen.report import runs, wandb_runs


def collect(
    rep: Mapping[str, Any], tracking: Mapping[str, Any], directory: Path
) -> tuple[list[runs.RunRecord], list[runs.Skipped]]:
    """The runs to report on (directories or W&B), with the ones that cannot be used."""
    found: Sequence[runs.RunRecord | runs.Skipped]
    if rep["source"] == "wandb":
        found = wandb_runs.fetch_runs(
            str(tracking["project"]), tracking["entity"], rep["group"], int(rep["history_rows"])
        )
    else:
        found = [runs.read_run_dir(p) for p in runs.find_run_dirs(str(rep["runs"]), [directory])]
    records: list[runs.RunRecord] = []
    skipped = [s for s in found if isinstance(s, runs.Skipped)]
    group = rep["group"]
    for record in [r for r in found if isinstance(r, runs.RunRecord)]:
        if record.job == "report" or (group and not runs.in_group(record, str(group))):
            continue
        if not record.metrics:
            skipped.append(runs.Skipped(record.path, "no metrics (a failed or unfinished run)"))
            continue
        problem = runs.shape_problem(record.config, "config")
        if problem:  # a W&B run's config (run directories are checked as they are read)
            skipped.append(runs.Skipped(record.path, problem))
            continue
        records.append(record)
    return records, skipped


def check_sweeps(sweep_dirs: Sequence[str]) -> list[Path]:
    """The sweep directories named by report.sweeps (each must hold multirun points)."""
    paths = [Path(d) for d in sweep_dirs]
    for path in paths:
        if not any(path.glob("*/.hydra/overrides.yaml")):
            raise BioqwenError(f"report.sweeps: {path}: not a sweep directory (no */.hydra/)")
    return paths


def render_sweeps(sweep_dirs: Sequence[Path], directory: Path, heatmap: SweepHeatmap) -> str:
    """Summarise each sweep (table, heatmap, loss curves) into directory/sweeps/<n>/; Markdown."""
    from bioqwen.sweeps.summary import render_sweep

    parts: list[str] = []
    for n, sweep_dir in enumerate(sweep_dirs):
        files = render_sweep(sweep_dir, heatmap)
        target = directory / "sweeps" / f"{n}-{sweep_dir.name}"
        target.mkdir(parents=True, exist_ok=True)
        for path in (files.markdown, files.csv, files.heatmap, files.curves):
            shutil.copyfile(path, target / path.name)
        # The sweep's own Markdown links its figures by bare name: point them at the copies.
        text = files.markdown.read_text(encoding="utf-8")
        for path in (files.heatmap, files.curves):
            text = text.replace(
                f"]({path.name})", f"]({target.relative_to(directory)}/{path.name})"
            )
        parts.append(text.replace("# Sweep", "### Sweep", 1))
    return "\n".join(parts)
