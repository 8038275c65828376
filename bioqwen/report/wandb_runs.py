"""Runs read through the W&B public API (`report.source=wandb`) as report records.

The W&B run config is the job's resolved config and its summary holds metrics.json's keys, so
a W&B run becomes the same RunRecord a run directory gives; train runs also bring their
history (loss and tokens/s curves). Data cards and lineage files are not on the server: Table 1
and the stage of an evaluation of a trained model need run directories (or `row:` tags).
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Any

from bioqwen.report.runs import RunRecord


def _timestamp(created_at: str | None) -> float:
    """A W&B createdAt (ISO 8601, UTC) as seconds since the epoch; 0 when absent."""
    if not created_at:
        return 0.0
    return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()


def record_from_run(run: Any, history_rows: int) -> RunRecord:
    """One public-API Run as a RunRecord (summary keys starting with '_' are W&B's own)."""
    config = dict(run.config)
    job = str(run.job_type or config.get("job") or "unknown")
    metrics = {k: v for k, v in dict(run.summary_metrics).items() if not k.startswith("_")}
    history = list(islice(run.scan_history(), history_rows)) if job == "train" else None
    return RunRecord(
        path="wandb:" + "/".join(run.path),
        job=job,
        config=config,
        metrics=metrics,
        tags=list(run.tags or []),
        group=run.group,
        history=history,
        mtime=_timestamp(run.created_at),
    )


def fetch_runs(
    project: str, entity: str | None, group: str | None, history_rows: int, api: Any = None
) -> list[RunRecord]:
    """Every run of a W&B project (one group when given), through wandb.Api unless given one."""
    if api is None:
        import wandb

        api = wandb.Api()
    path = f"{entity}/{project}" if entity else project
    runs = api.runs(path, filters={"group": group} if group else {}, lazy=False)
    return [record_from_run(run, history_rows) for run in runs]
