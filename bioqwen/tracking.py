"""Weights & Biases: one run per job, offline by default, files inside the run directory.

wandb is imported lazily so that `tracking=disabled` needs no wandb installed (the GPU
benchmark machine ships without it). The API key is read by wandb from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MODES = ("offline", "online", "disabled")


class Tracker:
    """A thin handle on a W&B run that is a no-op when tracking is disabled."""

    def __init__(self, run: Any | None) -> None:
        self.run = run

    @property
    def enabled(self) -> bool:
        """Whether a W&B run is attached."""
        return self.run is not None

    @property
    def run_path(self) -> str | None:
        """The local directory of the W&B run files (offline-run-* or run-*)."""
        if self.run is None:
            return None
        return str(Path(self.run.dir).parent)

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log a row of metrics."""
        if self.run is not None:
            self.run.log(dict(metrics), step=step)

    def summary(self, metrics: Mapping[str, Any]) -> None:
        """Write final values into the run summary (same keys as metrics.json)."""
        if self.run is not None:
            for key, value in metrics.items():
                self.run.summary[key] = value

    def table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Log a table (data card, sample predictions)."""
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=list[str | int](columns), data=rows)})

    def finish(self) -> None:
        """Close the run, flushing offline files."""
        if self.run is not None:
            self.run.finish()
            self.run = None


def start(
    tracking: Mapping[str, Any],
    run_dir: str | Path,
    config: Mapping[str, Any],
    job: str,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
) -> Tracker:
    """Start a W&B run for a job writing under run_dir, or return a disabled tracker."""
    mode = tracking.get("mode", "offline")
    if mode not in MODES:
        raise ValueError(f"tracking.mode={mode!r}: expected one of {MODES}")
    if mode == "disabled":
        return Tracker(None)
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        mode=mode,
        project=tracking.get("project") or "bioqwen",
        entity=tracking.get("entity"),
        dir=str(run_dir),
        name=tracking.get("name") or name,
        group=tracking.get("group") or group,
        tags=sorted({*(tags or []), *(tracking.get("tags") or []), f"job:{job}"}),
        job_type=job,
        config=dict(config),
        reinit="finish_previous",
        settings=wandb.Settings(console="off", x_disable_stats=True),
    )
    return Tracker(run)
