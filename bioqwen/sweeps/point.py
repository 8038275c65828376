"""One point of a Hydra multirun: its W&B labels, its status file, its objective.

A point that fails records `status.json` (`failed` + a one-line reason) in its run directory
and returns, so the other points still run and the sweep summary can show it; with
`hydra.callbacks.sweep.fail_fast=true` it ends the whole sweep with that one line (exit 2).
The settings live in the sweep callback's config (conf/hydra/callbacks/sweep.yaml, typed by
bioqwen.config.SweepSettings) because they describe the sweep, not the job: the job's entry
point reads them once per point (`settings`) and hands them to `run_point` and `objective`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bioqwen.config import SweepSettings
from bioqwen.runs import atomic_write_json

log = logging.getLogger("bioqwen.sweeps")

STATUS_FILE = "status.json"
SLURM_FILE = "slurm.json"  # the scheduler's record of a point (bioqwen.sweeps.launcher)
CALLBACK_KEY = "sweep"  # hydra.callbacks.<key>: the sweep's settings
TAG_LIMIT = 64  # W&B rejects longer tags
GROUP_LIMIT = 128  # W&B's limit on a group name


@dataclass(frozen=True)
class PointLabels:
    """What a point's W&B run carries: the sweep's group, its overrides as tags and config."""

    group: str
    tags: list[str]
    config: dict[str, Any]


def in_multirun() -> bool:
    """Whether this process runs a point of a Hydra multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_settings(node: Mapping[str, Any] | None) -> SweepSettings:
    """The settings a hydra.callbacks.sweep node holds (the schema's defaults for the keys it
    lacks, all of them without the node: a multirun of a job without the sweep callback)."""
    known = {f.name for f in fields(SweepSettings)}
    return SweepSettings(**{k: v for k, v in (node or {}).items() if k in known})


def settings() -> SweepSettings:
    """This multirun's sweep settings."""
    from hydra.core.hydra_config import HydraConfig

    return sweep_settings(HydraConfig.get().callbacks.get(CALLBACK_KEY))


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep: `sweep-` + its directory, one name per sweep."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(sweep_dir)).strip("-.")
    return f"sweep-{slug}"[-GROUP_LIMIT:]


def split_override(override: str) -> tuple[str, str]:
    """`+a.b=1` -> ("a.b", "1")."""
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def labels() -> PointLabels | None:
    """This point's W&B group, tags and config; None outside a multirun."""
    if not in_multirun():
        return None
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    overrides = [str(o) for o in hydra.overrides.task]
    group = sweep_group(hydra.sweep.dir)
    return PointLabels(
        group=group,
        tags=[o[:TAG_LIMIT] for o in overrides],
        config={
            "sweep": {
                "group": group,
                "num": int(hydra.job.num),
                "overrides": dict(split_override(o) for o in overrides),
            }
        },
    )


def one_line(err: BaseException) -> str:
    """An exception as one summary line: its message's first line, typed when not a user error."""
    from bioqwen.errors import BioqwenError

    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(err, BioqwenError) else f"{type(err).__name__}: {first}"


def write_status(directory: Path, status: str, started: float, reason: str = "") -> None:
    """Record how a point ended in <run dir>/status.json (read by the sweep summary)."""
    ended = time.time()
    atomic_write_json(
        directory / STATUS_FILE,
        {
            "status": status,
            "reason": reason,
            "wall_time_s": round(ended - started, 3),
            "started": started,  # epoch seconds: which points ran at the same time
            "ended": ended,
            "pid": os.getpid(),
        },
    )


def run_point(call: Callable[[], dict[str, Any]], sweep: SweepSettings) -> dict[str, Any] | None:
    """Run a point's job; record ok/failed; a failure returns None unless fail_fast."""
    from hydra.core.hydra_config import HydraConfig

    from bioqwen.errors import BioqwenError

    directory = Path(HydraConfig.get().runtime.output_dir)
    started = time.time()
    try:
        metrics = call()
    except Exception as err:
        write_status(directory, "failed", started, one_line(err))
        if sweep.fail_fast:  # the job's entry point prints it and exits: no later point runs
            raise BioqwenError(f"sweep point {directory}: {one_line(err)}") from err
        log.error("sweep point %s failed: %s", directory, one_line(err), exc_info=err)
        return None
    write_status(directory, "ok", started)
    return metrics


def objective(metrics: dict[str, Any] | None, sweep: SweepSettings) -> float | None:
    """The value a sweeper optimises (the metric named by hydra.callbacks.sweep.objective)."""
    if metrics is None:
        return None
    name = sweep.objective
    value = metrics.get(name)
    if not isinstance(value, int | float) or math.isnan(value):
        log.warning("objective %s missing from this point's metrics", name)
        return None
    return float(value)
