"""The one shape every job shares: run directory, saved config, tracker, lineage, user errors.

A job module defines `run(cfg) -> metrics` and exposes `main = job_main("<job>", run)`:

- `run` checks everything a user can get wrong *before* it opens its run with
  `open_run(cfg, ...)`, so a bad input leaves nothing behind; inside the block it writes its
  artefacts, `run.lineage(...)` and `run.finish(metrics)`, and returns the metrics. The block
  holds the run directory's lock (`hold_run_dir`): a second job on the same directory fails
  at once, naming the first one's pid and host, instead of writing into its files (or waits
  for it to end, with `wait=true`: conf/base/run_dirs.yaml).
- `job_main` makes it a Hydra app reading `conf/<job>.yaml`, turns a `BioqwenError` into one
  `bioqwen: error: ...` line and exit status 2, and prints the metrics as the last stdout line.
- `execute(run, cfg, directory)` runs the same function outside Hydra's runtime (the pipeline
  job composes each step's config and names its run directory).
- Under `-m` (a Hydra multirun) each point joins the sweep's W&B group with its overrides as
  tags and config, a failing point is recorded and the others go on, and the entry point
  returns the sweep's objective to the sweeper (bioqwen.sweeps.point).
"""

from __future__ import annotations

import contextvars
import errno
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bioqwen import checkout, overrides, tracking
from bioqwen.errors import BioqwenError
from bioqwen.runs import LOCK_FILE, atomic_write_text, exclusive, write_lineage, write_metrics

log = logging.getLogger("bioqwen")
CONF_DIR = str(checkout.CONF_DIR)

JobRun = Callable[[DictConfig], dict[str, Any]]

# Set by execute() for jobs run outside Hydra's runtime (the pipeline's steps).
_RUN_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("run_dir", default=None)


@dataclass
class Run:
    """The run directory of one job invocation and its tracker."""

    dir: Path
    cfg: DictConfig
    tracker: tracking.Tracker
    job: str

    def lineage(self, **entries: Any) -> None:
        """Record what this run consumed (runs, files, hashes) in lineage.json."""
        write_lineage(self.dir, job=self.job, **entries)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Write metrics.json and the same keys into the W&B summary."""
        write_metrics(self.dir, metrics)
        self.tracker.summary(metrics)


def plain(node: Any) -> dict[str, Any]:
    """A config node as plain, resolved Python containers (what the library functions take)."""
    return checkout.plain(node)  # type: ignore[no-any-return,unused-ignore]


def run_dir() -> Path:
    """This job's run directory: execute()'s, else Hydra's output dir (run.dir or sweep subdir)."""
    directory = _RUN_DIR.get()
    if directory is not None:
        return directory
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


@contextmanager
def hold_run_dir(directory: Path, wait: bool = False) -> Iterator[None]:
    """Hold the run directory's lock for the block (re-entrant within a process); another
    holder makes it fail at once, or, with `wait`, wait for that holder to end."""
    with exclusive(Path(directory) / LOCK_FILE, f"run directory {directory}", wait=wait):
        yield


@contextmanager
def open_run(
    cfg: DictConfig,
    job: str,
    name: str,
    group: str | None = None,
    tags: list[str] | None = None,
    resume: bool = False,
    directory: Path | None = None,
) -> Iterator[Run]:
    """Lock the run directory, save the resolved config, start tracking (continuing the
    directory's W&B run when resuming), and always close the tracker: as failed when the
    block raises."""
    from bioqwen.sweeps import point

    directory = directory or run_dir()
    with hold_run_dir(directory, wait=bool(cfg.wait)):
        atomic_write_text(directory / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        config = plain(cfg)
        sweep = point.labels()
        if sweep is not None:  # a multirun point: one group for the sweep, its overrides as tags
            group, tags = sweep.group, [*(tags or []), *sweep.tags]
            config = {**config, **sweep.config}
        tracker = tracking.start(
            cfg.tracking,
            directory,
            config,
            job,
            name=name,
            group=group,
            tags=tags,
            run_id=tracking.previous_run_id(directory) if resume else None,
        )
        try:
            yield Run(directory, cfg, tracker, job)
        except BaseException:
            tracker.finish(exit_code=1)
            raise
        tracker.finish()


def execute(run: JobRun, cfg: DictConfig, directory: Path) -> dict[str, Any]:
    """Run a job's `run(cfg)` with `directory` as its run directory (no Hydra runtime needed)."""
    token = _RUN_DIR.set(Path(directory))
    try:
        return run(cfg)
    finally:
        _RUN_DIR.reset(token)


def report_user_errors(call: Callable[[], Any]) -> Any:
    """Call; a BioqwenError, or a full disk, becomes one `bioqwen: error:` line on stderr and
    exit status 2."""
    try:
        return call()
    except BioqwenError as err:
        print(f"bioqwen: error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Outputs are written to temporary siblings and renamed: nothing is left half-written.
        where = err.filename or _current_run_dir() or "a job output"
        print(f"bioqwen: error: {where}: {err.strerror}; free space and rerun", file=sys.stderr)
        sys.exit(2)


def _current_run_dir() -> Path | None:
    """The run directory if a job is running (for errors that name no file), else None."""
    try:
        return run_dir()
    except ValueError:  # outside Hydra's runtime and execute()
        return None


def quiet_model_bars() -> None:
    """No `Loading weights` / `Writing model shards` bars: transformers draws one for every
    model a job loads or saves, burying its log lines. Only transformers' own bars go (hub
    downloads and the training bar keep theirs)."""
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    enable_progress_bars()  # turned off with transformers' own; HF_HUB_DISABLE_PROGRESS_BARS wins


def job_main(job: str, run: JobRun) -> Callable[[], None]:
    """The Hydra entry point of a job: refuse secret overrides, compose conf/<job>.yaml, run,
    print the metrics."""
    import hydra

    import bioqwen.config  # noqa: F401  (registers the schemas with Hydra)
    from bioqwen.sweeps import point

    @hydra.main(config_path=CONF_DIR, config_name=job, version_base="1.3")
    def main(cfg: DictConfig) -> float | None:
        quiet_model_bars()
        sweep = point.settings() if point.in_multirun() else None  # fail_fast, objective
        call = (lambda: point.run_point(lambda: run(cfg), sweep)) if sweep else (lambda: run(cfg))
        metrics = report_user_errors(call)
        if metrics is not None:
            print(json.dumps(metrics, ensure_ascii=False, sort_keys=True, default=str), flush=True)
        return point.objective(metrics, sweep) if sweep else None

    def entry() -> None:
        # Before Hydra runs: it would save a secret override in .hydra/ straight away.
        report_user_errors(lambda: overrides.refuse_secrets(sys.argv[1:]))
        main()

    entry.__doc__ = f"Entry point of `bioqwen {job}`."
    return entry
