"""The Hydra callback of a bioqwen sweep (conf/hydra/callbacks/sweep.yaml).

- before any point runs: the swept keys exist, the objective and metric are metrics the job
  reports, `seeds` holds two or more seeds, a SLURM launcher names a partition of the cluster
  and asks no more CPUs, GPUs, memory or nodes than its nodes have (bioqwen.sweeps.resources);
  otherwise one `bioqwen: error:` line, exit 2, nothing written (Hydra turns a callback's
  exception into a warning, so the check exits itself);
- `seeds=[a, b, ...]`: the axis `seed=a,b,...` is added to the sweep (each point runs once
  per seed; the summary reports each cell's mean, sd and interval);
- when a point starts under the submitit local launcher: one GPU of `gpus` per point; never
  inside a SLURM job, where SLURM sets CUDA_VISIBLE_DEVICES to the point's own allocation;
- when the sweep ends: sweep_summary.md/.csv, the heatmap and the loss curves in the sweep
  directory, and the same as a W&B run in the sweep's group; when every point failed, one
  `bioqwen: error:` line and exit status 1 (after the summary is written).

Hydra only loads launcher and sweeper plugins from the `hydra_plugins` package, so bioqwen's
checks on them live here rather than in subclasses of the plugins.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from bioqwen.config import SweepSettings
from bioqwen.sweeps import SweepError, resources
from bioqwen.sweeps.objectives import check_metric
from bioqwen.sweeps.point import CALLBACK_KEY, sweep_settings
from bioqwen.sweeps.summary import NOT_ENDED, SEED_KEY, log_to_wandb, render_sweep

log = logging.getLogger("bioqwen.sweeps")

_ABSENT = object()


def _parsed(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(overrides))


def check_keys(config: DictConfig, overrides: Sequence[str]) -> None:
    """Every swept key (not a `+key`, not a config group) exists in the composed config."""
    for override in _parsed(overrides):
        key = override.key_or_group
        if override.is_add() or override.is_delete() or "/" in key or override.package:
            continue
        if key in config.hydra.runtime.choices:  # `model=a,b` sweeps a config group
            continue
        if OmegaConf.select(config, key, default=_ABSENT) is _ABSENT:
            raise SweepError(f"swept key {key!r} does not exist in the {config.job} config")


def is_slurm(launcher: DictConfig) -> bool:
    """Whether the launcher submits to SLURM (bioqwen's presets or the plugin's own)."""
    return str(launcher.get("_target_", "")).endswith("SlurmLauncher")


def check_launcher(launcher: DictConfig) -> None:
    """A SLURM launcher names its partition."""
    if is_slurm(launcher) and not launcher.get("partition"):
        raise SweepError(
            "hydra.launcher.partition is not set: pass hydra.launcher.partition=<name> "
            "(`sinfo -s` lists the cluster's partitions)"
        )


def check_sweep(config: DictConfig) -> None:
    """Everything a sweep's setup can get wrong, before any point runs."""
    hydra = config.hydra
    check_launcher(hydra.launcher)
    if is_slurm(hydra.launcher):
        launcher: dict[str, Any] = OmegaConf.to_container(hydra.launcher, resolve=True)  # type: ignore[assignment]
        resources.check_cluster(launcher)
    task = [str(o) for o in hydra.overrides.task]
    params = [f"{k}={v}" for k, v in (hydra.sweeper.get("params") or {}).items()]
    check_keys(config, [*task, *params])
    settings = sweep_settings(hydra.callbacks.get(CALLBACK_KEY))
    job = str(config.get("job", ""))
    check_metric(job, "hydra.callbacks.sweep.objective", settings.objective)
    check_metric(job, "hydra.callbacks.sweep.metric", settings.metric)


def seed_axis(seeds: Sequence[int], task: Sequence[str]) -> str | None:
    """The override `seed=a,b,...` that `seeds` adds to a sweep (None without seeds)."""
    if not seeds:
        return None
    if len(set(seeds)) < 2:
        raise SweepError(
            f"hydra.callbacks.sweep.seeds={list(seeds)}: one seed measures no seed noise; "
            "give two or more (e.g. [1,2]) or leave it out"
        )
    if any(str(o).lstrip("+~").partition("=")[0] == SEED_KEY for o in task):
        raise SweepError(
            f"hydra.callbacks.sweep.seeds and the override {SEED_KEY}=... both set the seed: "
            "use one of them"
        )
    return f"{SEED_KEY}={','.join(str(int(s)) for s in seeds)}"


def point_gpu(job_num: int, gpus: Sequence[int]) -> str:
    """The CUDA_VISIBLE_DEVICES of point `job_num` when points share out `gpus` in turn."""
    return str(gpus[job_num % len(gpus)])


def bind_gpu(launcher: DictConfig, job_num: int, gpus: Sequence[int]) -> None:
    """Give a point its own GPU where bioqwen places points: under the submitit local launcher
    (one process per point), never inside a SLURM job (SLURM binds the allocated GPUs)."""
    local = str(launcher.get("_target_", "")).endswith("LocalLauncher")
    if gpus and local and "SLURM_JOB_ID" not in os.environ:
        os.environ["CUDA_VISIBLE_DEVICES"] = point_gpu(job_num, gpus)


class SweepCallback(Callback):
    """Checks a sweep before it starts, places its points, summarises it at the end."""

    def __init__(self, **settings: Any) -> None:
        # Hydra passes hydra.callbacks.sweep's keys (bioqwen.config.SweepSettings, defaults there).
        self.settings = SweepSettings(**settings)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Stop with one error line when the sweep's setup is wrong; add the seed axis."""
        try:
            check_sweep(config)
            seeds = [int(s) for s in self.settings.seeds]
            axis = seed_axis(seeds, [str(o) for o in config.hydra.overrides.task])
        except SweepError as err:
            print(f"bioqwen: error: {err}", file=sys.stderr)
            sys.exit(2)
        if axis is not None:  # Hydra reads the sweep's overrides from here after this callback
            with open_dict(config), read_write(config):
                config.hydra.overrides.task.append(axis)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Under submitit_local, give this point its own GPU (each point is its own process)."""
        num = OmegaConf.select(config, "hydra.job.num", default=None)
        if num is not None:  # a single run (not -m) has no point number and nothing to place
            bind_gpu(config.hydra.launcher, int(num), [int(g) for g in self.settings.gpus])

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write the summary files and log them to W&B."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        group = OmegaConf.select(config, "tracking.group", default=None)
        files = render_sweep(sweep_dir, self.settings, group)
        statuses = [row[files.columns.index("status")] for row in files.rows]
        going_on = sum(s in NOT_ENDED for s in statuses)
        failed = len(statuses) - going_on - statuses.count("ok")
        if failed:
            log.warning("%d of %d sweep points failed: %s", failed, len(statuses), files.markdown)
        if going_on:
            log.info("%d of %d sweep points have not ended: `bioqwen sweep summarize %s` "
                     "once they have", going_on, len(statuses), sweep_dir)  # fmt: skip
        log.info("sweep summary: %s", files.markdown)
        if "tracking" in config:
            tracking_cfg = OmegaConf.to_container(config.tracking, resolve=True)
            log_to_wandb(tracking_cfg, files, sweep_dir)  # type: ignore[arg-type]
        if files.rows and failed == len(files.rows):
            print(
                f"bioqwen: error: every sweep point failed ({failed}); see {files.markdown}",
                file=sys.stderr,
            )
            sys.exit(1)
