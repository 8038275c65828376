"""`bioqwen pipeline +experiment=<name>`: an experiment's steps (prepare -> train stage 1 ->
stage 2 -> evaluate ...) as one command, each step the run directory its single job writes.

Every step's config is composed with Hydra's compose API from its job's primary config and
the experiment's overrides, labelled with the experiment block (W&B group = experiment name,
tags = the experiment's), and run through `execute(run, cfg, directory)`. All step configs are
composed before anything runs, so a misspelled key stops the pipeline with nothing written.
bioqwen.experiments decides per step from experiment.json: skip, resume, rerun or run.
The pipeline opens no W&B run of its own: its record is experiment.json.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from bioqwen import experiments
from bioqwen.cli import JOBS
from bioqwen.errors import BioqwenError
from bioqwen.experiments import Ledger, Step, available, config_hash, output_hash
from bioqwen.jobs.common import CONF_DIR, JobRun, execute, job_main, log, plain, report_user_errors
from bioqwen.runs import stable_hash

# Jobs that continue an interrupted run: what marks a resumable run dir, and the override.
RESUME = {"train": ("checkpoints/checkpoint-*", "resume=true")}
EXPERIMENTS = Path(CONF_DIR) / "experiment"
SAY = {
    "skip": "skipped, config and upstream outputs unchanged",
    "resume": "resuming the interrupted run from its newest checkpoint",
    "rerun": "rerunning (config or upstream changed, or the last attempt failed)",
    "run": "running",
}


@contextmanager
def hydra_context() -> Iterator[None]:
    """Hydra's compose API inside the running app, or on conf/ when called outside one."""
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        yield


def compose_config(job: str, overrides: list[str], where: str) -> DictConfig:
    """A job's primary config with overrides; a composition error is one line naming `where`."""
    try:
        return compose(job, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise BioqwenError(f"{where}: {' '.join(lines[:2])}") from err


def entry(job: str) -> JobRun:
    """A job's `run(cfg)` function (the train module names it `train`)."""
    module = importlib.import_module(JOBS[job])
    return getattr(module, "run", None) or getattr(module, job)


def sub_experiment(cfg: DictConfig, name: str) -> DictConfig:
    """Another experiment's config, sharing this run's root, data, extra overrides and tracking."""
    if name not in available(EXPERIMENTS):
        raise BioqwenError(f"{cfg.experiment.name}: input from unknown experiment {name!r}")
    sub = compose_config("pipeline", [f"+experiment={name}"], f"experiment {name}")
    for key in ("pipeline.root", "pipeline.data_root", "pipeline.overrides", "tracking"):
        OmegaConf.update(sub, key, OmegaConf.select(cfg, key), merge=False)
    return sub


def step_config(
    cfg: DictConfig, step: Step, inputs: dict[str, Path], extra: list[str]
) -> DictConfig:
    """Compose one step's config and label it with the experiment (block, W&B group and tags)."""
    name = str(cfg.experiment.name)
    overrides = [
        *cfg.pipeline.common.get(step.job, []),
        *step.overrides,
        *(f"{key}='{path}'" for key, path in inputs.items()),
        *cfg.pipeline.overrides.get(step.job, []),
        *extra,
    ]
    step_cfg = compose_config(step.job, overrides, f"experiment {name}, step {step.name}")
    with open_dict(step_cfg):
        step_cfg.experiment = {**plain(cfg.experiment), "step": step.name}
        tags = [*cfg.tracking.tags, *cfg.experiment.tags, f"step:{step.name}"]
        labels = {"group": name, "tags": tags}
        step_cfg.tracking = OmegaConf.merge(step_cfg.tracking, plain(cfg.tracking), labels)
    return step_cfg


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the experiment's steps (and first the experiments they take inputs from)."""
    with hydra_context():
        return run_experiment(cfg, ())


def run_experiment(cfg: DictConfig, stack: tuple[str, ...]) -> dict[str, Any]:
    """Validate every step of cfg's experiment, then skip, resume or run each in order."""
    name = str(cfg.experiment.name)
    if name in stack:
        raise BioqwenError(f"experiment {name} takes inputs from itself: {' -> '.join(stack)}")
    experiments.check_experiment(cfg, f"experiment {name}")
    steps = experiments.parse_steps(cfg.pipeline.steps, JOBS, f"experiment {name}")
    directory = Path(str(cfg.pipeline.dir))
    others = {ref[0] for s in steps for ref in s.external().values()}
    subs = {other: sub_experiment(cfg, other) for other in sorted(others)}
    dirs = {s.name: directory / s.name for s in steps}
    for other, sub in subs.items():
        dirs.update(
            {
                f"{other}:{s['name']}": Path(str(sub.pipeline.dir)) / s["name"]
                for s in sub.pipeline.steps
            }
        )
    for step in steps:
        missing = [ref for ref in step.inputs.values() if ref not in dirs]
        if missing:
            raise BioqwenError(f"experiment {name}, step {step.name}: no step {missing[0]!r}")
    # Composed up front: a bad override anywhere stops the pipeline before any step runs.
    configs = {
        s.name: step_config(cfg, s, {k: dirs[r] for k, r in s.inputs.items()}, []) for s in steps
    }
    for other, sub in subs.items():
        print(f"[{name}] inputs from experiment {other}", flush=True)
        run_experiment(sub, (*stack, name))

    ledger = Ledger(
        directory, {**plain(cfg.experiment), "dir": str(directory)}, [s.name for s in steps]
    )
    counts = {"ran": 0, "skipped": 0, "resumed": 0}
    start = time.monotonic()
    for number, step in enumerate(steps, 1):
        run_dir, step_cfg = dirs[step.name], configs[step.name]
        upstream = {ref: output_hash(dirs[ref]) for ref in step.inputs.values()}
        digest = stable_hash({"config": config_hash(plain(step_cfg)), "upstream": upstream})
        marker, resume_override = RESUME.get(step.job, ("", ""))
        resumable = bool(marker) and any(run_dir.glob(marker))
        action = ledger.plan(step, digest, run_dir, resumable)
        print(
            f"[{name} {number}/{len(steps)}] {step.name} ({step.job}): {action} -> {run_dir}",
            flush=True,
        )
        if action == "skip":
            counts["skipped"] += 1
            continue
        if action == "rerun":  # changed inputs, or a failed attempt with nothing to resume
            shutil.rmtree(run_dir)
        if action == "resume":
            step_cfg = step_config(
                cfg, step, {k: dirs[r] for k, r in step.inputs.items()}, [resume_override]
            )
        inputs = {"config": config_hash(plain(step_cfg)), "upstream": upstream}
        ledger.update(step, status="running", hash=digest, inputs=inputs, run_dir=str(run_dir))
        try:
            execute(entry(step.job), step_cfg, run_dir)
        except BioqwenError as err:
            ledger.update(step, status="failed", error=str(err))
            raise BioqwenError(f"experiment {name}, step {step.name} failed: {err}") from err
        except BaseException as err:  # a crash or an interrupt: the next run starts here
            ledger.update(step, status="failed" if isinstance(err, Exception) else "interrupted")
            log.error("experiment %s stopped at step %s; a re-run continues there", name, step.name)
            raise
        ledger.update(step, status="done", error=None)
        counts["resumed" if action == "resume" else "ran"] += 1
    print(
        f"[{name}] done: {counts} in {time.monotonic() - start:.0f} s, record {ledger.path}",
        flush=True,
    )
    return {"experiment": name, **{f"steps/{k}": v for k, v in counts.items()}}


def check_command_line(argv: list[str]) -> None:
    """Name an unknown or missing experiment (listing the known ones) and reject bad overrides."""
    names = available(EXPERIMENTS)
    chosen = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("experiment=")]
    if not chosen or chosen[-1] not in names:
        given = f"unknown experiment {chosen[-1]!r}" if chosen else "no experiment given"
        raise BioqwenError(f"{given}: use +experiment=<name>, one of: {', '.join(names)}")
    overrides = [a for a in argv if not a.startswith(("hydra.", "-"))]
    with hydra_context():
        compose_config("pipeline", overrides, "bioqwen pipeline")


_hydra_main = job_main("pipeline", run)


def main() -> None:
    """Entry point of `bioqwen pipeline` (Hydra reads the overrides from sys.argv)."""
    report_user_errors(lambda: check_command_line(sys.argv[1:]))
    _hydra_main()


if __name__ == "__main__":
    main()
