"""The one shape every job shares: run directory, saved config, tracker, lineage, user errors.

A job module defines `run(cfg) -> metrics` and exposes `main = job_main("<job>", run)`:

- `run` checks everything a user can get wrong *before* it opens its run with
  `open_run(cfg, ...)`, so a bad input leaves nothing behind; inside the block it writes its
  artefacts, `run.lineage(...)` and `run.finish(metrics)`, and returns the metrics. The block
  holds the run directory's lock (`hold_run_dir`): a second job on the same directory fails
  at once, naming the first one's pid and host, instead of writing into its files (or waits
  for it to end, with `wait=true`: conf/base/run_dirs.yaml).
- `job_main` makes it a Hydra app reading `conf/<job>.yaml`, turns a `BioqwenError`, and a
  config that does not compose (a misspelled key, a value outside its enum, an override that
  does not parse), into one `bioqwen: error: ...` line and exit status 2, and prints the
  metrics as the last stdout line.
- `execute(run, cfg, directory)` runs the same function outside Hydra's runtime (the pipeline
  job composes each step's config and names its run directory).
- Under `-m` (a Hydra multirun) each point joins the sweep's W&B group with its overrides as
  tags and config, a failing point is recorded and the others go on, and the entry point
  returns the sweep's objective to the sweeper (bioqwen.sweeps.point).
"""

from __future__ import annotations

import contextvars
import errno
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

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
        _hydra_reports_errors_again()  # composed: the job's own failures go Hydra's usual way
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
        report_user_errors(lambda: _composition_errors_raised(main))

    entry.__doc__ = f"Entry point of `bioqwen {job}`."
    return entry


# Hydra prints a composition error itself (several lines, exit 1) unless HYDRA_FULL_ERROR=1,
# when it raises it instead. The entry sets it only until the job's function starts, so that
# the error reaches the entry and the job's own failures are reported by Hydra as before.
_FULL_ERROR = "HYDRA_FULL_ERROR"
# Lines of an OmegaConf error that locate the key again, said once by the override already.
_LOCATION = ("full_key:", "object_type=", "reference_type=")


class _Composing:
    """Whether HYDRA_FULL_ERROR=1 is the entry's, set until composition is over."""

    set_by_entry = False


def _hydra_reports_errors_again() -> None:
    """Unset the HYDRA_FULL_ERROR the entry set (a user's own one stays)."""
    if _Composing.set_by_entry:
        _Composing.set_by_entry = False
        del os.environ[_FULL_ERROR]


def _composition_errors_raised(main: Callable[[], None]) -> None:
    """Run Hydra's main; a config that does not compose raises a BioqwenError of one line."""
    from hydra._internal.utils import run_and_report
    from hydra.errors import ConfigCompositionException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if _FULL_ERROR in os.environ:  # the user's choice: Hydra's full traces, or not
        main()
        return
    os.environ[_FULL_ERROR], _Composing.set_by_entry = "1", True
    try:
        main()
    except (ConfigCompositionException, OverrideParseException, OmegaConfBaseException) as err:
        if not _Composing.set_by_entry:
            raise  # raised after the job's function started: not a composition error
        raise BioqwenError(composition_error(err)) from err
    except Exception as err:  # anything else before the job started: as Hydra reports it
        if not _Composing.set_by_entry:
            raise
        _hydra_reports_errors_again()
        run_and_report(functools.partial(_raise, err))
    finally:
        _hydra_reports_errors_again()


def _raise(err: Exception) -> NoReturn:
    """Raise `err` (for Hydra's reporter, which takes a function)."""
    raise err


def composition_error(err: Exception) -> str:
    """One line for a Hydra composition error: the override, what is wrong, Hydra's hint."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, OverrideParseException):
        return f"{err.override}: {_one_line(err.message)}"
    if isinstance(err, MissingConfigException) and err.options:  # no such config group option
        # A group's schema node (bioqwen.config.register) is listed by Hydra but is no choice.
        options = [option for option in err.options if not option.endswith("_schema")]
        return f"{_one_line(str(err).splitlines()[0])}; available: {', '.join(options)}"
    text = str(err)
    cause = err.__cause__
    reason = (
        _one_line(getattr(cause, "msg", None) or str(cause))
        if isinstance(cause, OmegaConfBaseException)
        else ""
    )
    merging = re.match(r"Error merging override (.+)", text)
    if merging:
        return f"{merging[1]}: {reason or 'Hydra cannot merge it'}"
    unknown = re.match(r"Could not override '(.+)'\.\nTo append to your config use \+(.+)", text)
    if unknown:
        key, override = unknown[1], unknown[2]
        return f"{override}: {reason or f'no key {key!r}'} (append with +{override})"
    return "; ".join(part for part in (_one_line(text), reason) if part)


def _one_line(text: str) -> str:
    """An error's lines, less those locating the key, as one line starting lower-case."""
    lines = [line.strip().rstrip(".") for line in text.splitlines()]
    kept = [line for line in lines if line and not line.startswith(_LOCATION)]
    joined = re.sub(r" not in '(\w+)'", r" not in \1", "; ".join(kept))
    return joined[:1].lower() + joined[1:]
