"""`bioqwen pipeline +experiment=<name>`: an experiment's steps (prepare -> train stage 1 ->
stage 2 -> evaluate ...) as one command, each step the run directory its single job writes.

bioqwen.experiments composes every step's config up front (the experiment's overrides, its
inputs' run directories, the experiment block as W&B group and tags); this job runs each
through `execute(run, cfg, directory)` unless experiment.json says it is done with the same
inputs, resumes an interrupted training step, and stops at a failed step, naming it. The
pipeline opens no W&B run of its own: its record is <experiment dir>/experiment.json.

One pipeline at a time per experiment: it holds the experiment directory's lock while it runs
(a second one fails at once naming the holder, or waits for it with pipeline.wait=true), and
each step's job holds its own run directory's lock inside it. The one delete, of a step to
rerun, goes through runs.remove_inside, which refuses anything not strictly inside the
experiment directory.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen import experiments
from bioqwen.checkout import hydra_context
from bioqwen.cli import JOBS
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import JobRun, execute, job_main, log, plain, report_user_errors
from bioqwen.runs import LOCK_FILE, exclusive, remove_inside, stable_hash
from bioqwen.train.resume import CHECKPOINTS, COMPLETE

# What an interrupted step leaves behind that it can continue from, and the override that does.
RESUME = {
    # Only a complete checkpoint: one cut short by a kill or a full disk cannot be resumed.
    "train": (f"{CHECKPOINTS}/checkpoint-*/{COMPLETE}", "resume=true"),
    "evaluate": ("predictions.jsonl", "resume=true"),
}


def entry(job: str) -> JobRun:
    """A job's `run(cfg)` function (every job module defines one)."""
    job_run: JobRun = JOBS[job]().run
    return job_run


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the experiment's steps (and first the experiments they take inputs from)."""
    with hydra_context():
        return run_plan(experiments.plan(cfg, JOBS))


def run_plan(todo: experiments.Plan) -> dict[str, Any]:
    """Holding the experiment's lock, run the experiments this one depends on, then skip,
    resume or run each step in order."""
    directory = Path(str(todo.cfg.pipeline.dir))
    name = str(todo.cfg.experiment.name)
    wait = bool(todo.cfg.pipeline.wait)
    with exclusive(directory / LOCK_FILE, f"experiment {name} ({directory})", wait=wait):
        for sub in todo.subs:
            run_plan(sub)
        return _run_steps(todo, directory)


def _run_steps(todo: experiments.Plan, directory: Path) -> dict[str, Any]:
    """Skip, resume or run each step of one experiment (its lock held)."""
    cfg, name, start = todo.cfg, str(todo.cfg.experiment.name), time.monotonic()
    ledger = experiments.Ledger(directory, plain(cfg.experiment), [s.name for s in todo.steps])
    counts = dict.fromkeys(experiments.SAY, 0)
    for number, step in enumerate(todo.steps, 1):
        run_dir, step_cfg = todo.dirs[step.name], todo.configs[step.name]
        upstream = {ref: experiments.output_hash(todo.dirs[ref]) for ref in step.inputs.values()}
        inputs = {"config": experiments.config_hash(plain(step_cfg)), "upstream": upstream}
        digest = stable_hash(inputs)
        marker, resume = RESUME.get(step.job, ("", ""))
        action = ledger.plan(step, digest, run_dir, bool(marker) and any(run_dir.glob(marker)))
        counts[action] += 1
        say = experiments.SAY[action]
        print(f"[{name} {number}/{len(todo.steps)}] {step.name}: {say} ({run_dir})", flush=True)
        if action == "skip":
            continue
        if action == "rerun":  # changed inputs, or a failed attempt with nothing to resume
            remove_inside(run_dir, directory)
        if action == "resume":
            step_cfg = experiments.step_config(cfg, step, todo.inputs(step), (resume,))
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
    took = time.monotonic() - start
    print(f"[{name}] {counts} in {took:.0f} s; record: {ledger.path}", flush=True)
    return {"experiment": name, **{f"steps/{k}": v for k, v in counts.items()}}


_hydra_main = job_main("pipeline", run)


def main() -> None:
    """Entry point of `bioqwen pipeline` (Hydra reads the overrides from sys.argv)."""
    report_user_errors(lambda: experiments.check_command_line(sys.argv[1:]))
    _hydra_main()


if __name__ == "__main__":
    main()
