"""bioqwen's SLURM launcher: scheduler events are results, and a point can leave and come back.

The Hydra plugin class (hydra_plugins/bioqwen_launcher) is a thin subclass of
hydra-submitit-launcher's SlurmLauncher; this module holds what it adds:

- on the submitting side, every point gets its run directory and `slurm.json` (job id, SLURM
  state, log) at submission, so a point cancelled while pending is still a row of the summary;
  the array job id and where to look are printed; then the states are polled (sacct or squeue,
  bioqwen.sweeps.cluster) until every point has ended or `wait_min` has passed, never through
  submitit's own `job.results()`, which waits forever without accounting and raises on the
  first cancelled point;
- on the compute node, a point that was requeued (`scontrol requeue`, preemption, or its own
  time-limit signal, bioqwen.sweeps.preemption) continues from its newest checkpoint in the
  same W&B run (`resume=true`, bioqwen.train.resume); OMP_NUM_THREADS follows the CPUs SLURM
  gave the point.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from bioqwen.runs import atomic_write_json, atomic_write_text
from bioqwen.sweeps import cluster, preemption
from bioqwen.sweeps.point import SLURM_FILE

log = logging.getLogger("bioqwen.sweeps")

JOBS_FILE = "slurm_jobs.json"  # in the sweep directory: every array submitted for the sweep
FORGOTTEN_POLLS = 3  # a job absent from sacct/squeue this many polls in a row has ended
# A requeued job can show an end state (seen: FAILED) for a moment before it is PENDING again:
# an end state counts once it has held this long (KillWait is 10 s on the test cluster).
# A completed job with its result, and a cancelled one, never come back and count at once.
SETTLE_S = 15.0
# Keys of the launcher config that are bioqwen's, not submitit's executor parameters.
OWN_KEYS = ("poll_s", "wait_min")


@dataclass
class PointJob:
    """One point of the sweep as submitted: its number, overrides, directory and SLURM job."""

    num: int
    overrides: list[str]
    dir: Path
    job_id: str
    log: Path
    result: Path
    state: str = "PENDING"
    started: float | None = None  # when a poll first saw it RUNNING
    missing: int = 0
    ending: tuple[str, float] | None = None  # an end state seen, not yet settled, and since when


def point_dir(config: DictConfig) -> Path:
    """A point's run directory from its sweep config (hydra.sweep.dir / hydra.sweep.subdir)."""
    return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)


def write_point_record(job: PointJob) -> None:
    """`<point>/slurm.json` now, and `.hydra/overrides.yaml` while the point has not started."""
    overrides = job.dir / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        overrides.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(overrides, OmegaConf.to_yaml(OmegaConf.create(job.overrides)))
    atomic_write_json(
        job.dir / SLURM_FILE,
        {
            "job_id": job.job_id,
            "state": job.state,
            "log": str(job.log),
            "result": str(job.result),  # submitit's result pickle: there once the point returned
            "started": job.started,
            "updated": time.time(),
        },
    )


def write_jobs_file(sweep_dir: Path, jobs: Sequence[PointJob]) -> Path:
    """Add this array to `<sweep dir>/slurm_jobs.json` (an Optuna search submits several)."""
    path = sweep_dir / JOBS_FILE
    record = json.loads(path.read_text()) if path.is_file() else {"arrays": []}
    record["arrays"].append(
        {
            "array_job_id": jobs[0].job_id.split("_")[0],
            "submitted": time.time(),
            "points": {str(j.num): {"job_id": j.job_id, "dir": str(j.dir)} for j in jobs},
        }
    )
    return atomic_write_json(path, record)


def announce(sweep_dir: Path, jobs: Sequence[PointJob]) -> None:
    """Tell the user the array's job id and where to look while it runs."""
    array = jobs[0].job_id.split("_")[0]
    log.info(
        "submitted SLURM array job %s (%d points): `squeue -j %s`; logs %s; "
        "`bioqwen sweep status %s` (and `bioqwen sweep summarize %s` once it ends) "
        "work from any shell",
        array,
        len(jobs),
        array,
        jobs[0].log.parent.parent,
        sweep_dir,
        sweep_dir,
    )


def forgotten_state(last_seen: str, result: Path) -> str:
    """The end state of a job that left the queue unseen: squeue forgets an ended job after
    MinJobAge, and a pending array task cancelled with scancel at once (only accounting keeps
    it), so a job last seen pending and gone without a result was cancelled."""
    if result.is_file():
        return "COMPLETED"
    return "CANCELLED" if last_seen == "PENDING" else "UNKNOWN"


def settled(job: PointJob, state: str) -> bool:
    """Whether a state read from the queue may stand (an end state must hold for SETTLE_S)."""
    final = state == "CANCELLED" or (state == "COMPLETED" and job.result.is_file())
    if not cluster.ended(state) or final:
        job.ending = None
        return True
    if job.ending is None or job.ending[0] != state:
        job.ending = (state, time.monotonic())
    return time.monotonic() - job.ending[1] >= SETTLE_S


def poll(jobs: Sequence[PointJob]) -> list[PointJob]:
    """Refresh each unfinished job's state once; return the ones that changed."""
    open_jobs = [j for j in jobs if not cluster.ended(j.state)]
    states = cluster.job_states(j.job_id for j in open_jobs)
    changed = []
    for job in open_jobs:
        state = states.get(job.job_id)
        if state is None:  # forgotten between two polls
            job.missing += 1
            if job.missing < FORGOTTEN_POLLS:
                continue
            state = forgotten_state(job.state, job.result)
        elif not settled(job, state):
            continue
        job.missing = 0
        if state == "RUNNING" and job.started is None:
            job.started = time.time()
        if state != job.state:
            job.state = state
            changed.append(job)
            write_point_record(job)
    return changed


def wait(jobs: Sequence[PointJob], poll_s: float, wait_min: float | None) -> None:
    """Poll until every job has ended, or `wait_min` minutes have passed (None: no bound but
    the jobs' own time limits; 0: return right after submission)."""
    deadline = None if wait_min is None else time.monotonic() + 60 * float(wait_min)
    while not all(cluster.ended(j.state) for j in jobs):
        for job in poll(jobs):
            log.info("point %d (job %s): %s", job.num, job.job_id, job.state)
        if deadline is not None and time.monotonic() >= deadline:
            waiting = [j for j in jobs if not cluster.ended(j.state)]
            log.info(
                "stopped waiting after %s min with %d point(s) not ended: they go on; "
                "`bioqwen sweep summarize <sweep dir>` later",
                wait_min,
                len(waiting),
            )
            return
        if not all(cluster.ended(j.state) for j in jobs):
            time.sleep(poll_s)


def job_return(job: PointJob) -> Any:
    """The point's Hydra JobReturn: its own from the result pickle when it completed, else one
    without a value (as a point that failed locally), the SLURM state in its slurm.json."""
    from hydra.core.utils import JobReturn, JobStatus

    if job.state == "COMPLETED" and job.result.is_file():
        import submitit

        outcome, value = submitit.core.utils.pickle_load(job.result)
        if outcome == "success":
            return value
        log.error("point %d (job %s) raised: %s", job.num, job.job_id, str(value)[-2000:])
    return JobReturn(overrides=job.overrides, status=JobStatus.COMPLETED, _return_value=None)


# --- on the compute node ------------------------------------------------------------------


def prepare_point(config: DictConfig, max_requeues: int) -> None:
    """On the node, before a point runs: its CPUs, its signal handler, and resume=true when an
    earlier attempt of it left a checkpoint."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus:  # without it torch takes every core of the node, not the point's share
        os.environ["OMP_NUM_THREADS"] = cpus
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(cpus))
    preemption.install(max_requeues)
    if "resume" not in config or config.resume:
        return
    from bioqwen.train.trainer import CHECKPOINTS

    checkpoints = point_dir(config) / CHECKPOINTS
    if any(checkpoints.glob("checkpoint-*")):
        log.info("point %s: continuing from %s (attempt after a requeue)", point_dir(config),
                 checkpoints)  # fmt: skip
        with open_dict(config):
            config.resume = True
