"""An asynchronous Optuna search over train runs: N workers pull trials from one study.

The study lives in the sweep directory (`optuna.journal`, Optuna's JournalFileBackend: an
append-only file that several processes on one machine or a shared filesystem write under a
lock). Each worker loops: ask the study for a trial (sampled, or one of `search.enqueue`),
compose the train config with the trial's values, run the train job in-process into
`<sweep dir>/<trial number>/` (a point as Hydra leaves it: `.hydra/overrides.yaml`, status.json,
metrics.json), and tell the study COMPLETE (with the objective), PRUNED (the pruner stopped
it at an evaluation, bioqwen.sweeps.search_pruning) or FAIL. No worker waits for another: a
free GPU takes the next trial at once. Whichever worker ends last writes the sweep summary.

`spec.yaml` in the sweep directory holds everything a worker needs, so workers started by
`bioqwen search` (launch=local) and by a SLURM array (launch=none, then
`python -m bioqwen.jobs.search <sweep dir>` per task) behave the same. The worker's entry
point lives with the search job, which hands `work` the train job: sweeps/ imports no job.
"""

from __future__ import annotations

import fcntl
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from bioqwen.runs import atomic_write_text
from bioqwen.sweeps import SweepError

log = logging.getLogger("bioqwen.sweeps")

SPEC_FILE, JOURNAL_FILE, LOCK_FILE = "spec.yaml", "optuna.journal", ".search.lock"
# The train job run into a trial's directory: (config, directory) -> its metrics.
TrainRun = Callable[[DictConfig, Path], dict[str, Any]]


@dataclass(frozen=True)
class Spec:
    """A search as its workers read it from <sweep dir>/spec.yaml."""

    study: str
    objective: str
    direction: str
    trials: int
    params: list[str]  # Hydra sweep syntax: key=choice(...) | interval(...) | tag(log, ...)
    train: list[str]  # fixed overrides of every trial
    sampler: dict[str, Any]
    pruner: dict[str, Any] | None
    enqueue: list[str]  # "key=value key=value": trials to run first

    @classmethod
    def read(cls, sweep_dir: Path) -> Spec:
        """The spec a search wrote into its sweep directory."""
        path = sweep_dir / SPEC_FILE
        if not path.is_file():
            raise SweepError(f"{path}: no such file (not a search directory)")
        return cls(**yaml.safe_load(path.read_text(encoding="utf-8")))

    def write(self, sweep_dir: Path) -> None:
        """Save the spec for the workers."""
        atomic_write_text(sweep_dir / SPEC_FILE, yaml.safe_dump(self.__dict__, sort_keys=False))


def storage(sweep_dir: Path) -> Any:
    """The study's storage: a journal file in the sweep directory."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL_FILE)))


def first_line(err: BaseException) -> str:
    """An exception's message as one line (Hydra's parse errors add a help line)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def distribution(entry: str) -> tuple[str, Any]:
    """`key=choice(a, b)` / `interval(lo, hi)` / `tag(log, interval(lo, hi))` / `range(a, b, s)`
    as (key, an Optuna distribution)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    try:
        (override,) = OverridesParser.create().parse_overrides([entry])
        value = override.value()
        key = override.key_or_group
        if isinstance(value, ChoiceSweep):
            return key, CategoricalDistribution(list(value.list))  # type: ignore[arg-type]
        if isinstance(value, IntervalSweep):
            log_scale = "log" in value.tags
            low, high = value.start, value.end
            if isinstance(low, int) and isinstance(high, int):
                return key, IntDistribution(low, high, log=log_scale)
            return key, FloatDistribution(float(low), float(high), log=log_scale)  # type: ignore[arg-type]
        if isinstance(value, RangeSweep):
            step = int(value.step)
            return key, IntDistribution(int(value.start), int(value.stop) - step, step=step)  # type: ignore[arg-type]
    except Exception as err:  # Hydra's parse errors and Optuna's ValueErrors alike
        raise SweepError(f"search.params entry {entry!r}: {first_line(err)}") from err
    raise SweepError(
        f"search.params entry {entry!r}: not a search dimension "
        "(use choice(...), interval(...), tag(log, interval(...)) or range(...))"
    )


def space(params: Sequence[str]) -> dict[str, Any]:
    """Every search.params entry as key -> distribution (keys unique)."""
    out: dict[str, Any] = {}
    for entry in params:
        key, dist = distribution(entry)
        if key in out:
            raise SweepError(f"search.params: {key} appears twice")
        out[key] = dist
    if not out:
        raise SweepError("search.params is empty: name at least one key to search")
    return out


def enqueued(entry: str, dims: Mapping[str, Any]) -> dict[str, Any]:
    """One search.enqueue entry (`key=value ...`) as params inside the space."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params: dict[str, Any] = {}
    for part in entry.split():
        key = part.partition("=")[0]
        if key not in dims:
            raise SweepError(f"search.enqueue {entry!r}: {key} is not in search.params")
        try:
            (override,) = OverridesParser.create().parse_overrides([part])
            value = override.value()
            inside = dims[key]._contains(dims[key].to_internal_repr(value))
        except Exception as err:  # a parse error, or a value of the wrong kind
            raise SweepError(f"search.enqueue {entry!r}: {part}: {first_line(err)}") from err
        if not inside:
            raise SweepError(f"search.enqueue {entry!r}: {part} is outside {dims[key]}")
        params[key] = value
    return params


def instantiate(node: Mapping[str, Any] | None, **extra: Any) -> Any:
    """An Optuna sampler or pruner from its `_target_` config (None: no pruning)."""
    if not node:
        return None
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(OmegaConf.create({**node, **extra}))
    except Exception as err:
        target = node.get("_target_")
        raise SweepError(f"{target}: {first_line(err)}") from err


def create_study(sweep_dir: Path, spec: Spec) -> Any:
    """Create the study in the sweep directory and queue the enqueued trials."""
    import optuna

    dims = space(spec.params)
    queued = [enqueued(e, dims) for e in spec.enqueue]
    study = optuna.create_study(
        storage=storage(sweep_dir),
        study_name=spec.study,
        direction=spec.direction,  # type: ignore[arg-type]  # checked by the job
        load_if_exists=False,
    )
    study.set_user_attr("objective", spec.objective)
    for params in queued:
        study.enqueue_trial(params)
    return study


@contextmanager
def locked(sweep_dir: Path) -> Iterator[None]:
    """Hold the search's lock: asking for a trial after counting them is one step."""
    with open(sweep_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def value_text(value: Any) -> str:
    """A sampled value as a Hydra override value."""
    return repr(value) if isinstance(value, float) else str(value)


def next_trial(study: Any, spec: Spec, sweep_dir: Path) -> Any | None:
    """The next trial for this worker, or None once `trials` have been handed out."""
    with locked(sweep_dir):
        if len(study.get_trials(deepcopy=False)) >= spec.trials:
            waiting = [t for t in study.get_trials(deepcopy=False) if t.state.name == "WAITING"]
            if not waiting:
                return None
        return study.ask(space(spec.params))


def write_point(directory: Path, overrides: list[str], cfg: DictConfig) -> None:
    """The trial's `.hydra/` as a Hydra point leaves it (what the sweep summary reads)."""
    hydra_dir = directory / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(hydra_dir / "overrides.yaml", yaml.safe_dump(overrides))
    atomic_write_text(hydra_dir / "config.yaml", OmegaConf.to_yaml(cfg))


def run_trial(trial: Any, spec: Spec, sweep_dir: Path, train: TrainRun) -> str:
    """Train one trial into <sweep dir>/<number>/ and tell the study; returns its state."""
    import optuna

    from bioqwen.checkout import compose
    from bioqwen.sweeps.point import one_line, sweep_group, write_status
    from bioqwen.sweeps.search_pruning import pruning

    directory = sweep_dir / str(trial.number)
    swept = [f"{k}={value_text(v)}" for k, v in trial.params.items()]
    overrides = [*spec.train, *swept]
    started = time.time()
    try:
        cfg = compose("train", [f"tracking.group={sweep_group(sweep_dir)}", *overrides])
        write_point(directory, overrides, cfg)
        with pruning(trial, spec.objective) as watch:
            metrics = train(cfg, directory)
    except Exception as err:
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / ".hydra").is_dir():
            write_point(directory, overrides, OmegaConf.create())
        write_status(directory, "failed", started, one_line(err))
        log.error("trial %d failed: %s", trial.number, one_line(err), exc_info=err)
        trial.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "failed"
    if watch.pruned_at is not None:
        step, value = watch.pruned_at
        reason = f"pruned at step {step}: {spec.objective} {value:.6g}"
        write_status(directory, "pruned", started, reason)
        trial.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log.info("trial %d %s", trial.number, reason)
        return "pruned"
    final = metrics.get(spec.objective)
    if not isinstance(final, int | float) or math.isnan(final):
        reason = f"objective {spec.objective} missing from metrics.json"
        write_status(directory, "failed", started, reason)
        trial.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "failed"
    write_status(directory, "ok", started)
    trial.study.tell(trial, float(final))
    log.info("trial %d complete: %s %.6g", trial.number, spec.objective, final)
    return "ok"


def load(sweep_dir: Path, spec: Spec, worker: int = 0) -> Any:
    """This worker's handle on the study: its own sampler seed (seed + worker), so two
    workers do not propose the same values."""
    import optuna

    seed = spec.sampler.get("seed")
    extra = {"seed": int(seed) + worker} if seed is not None else {}
    return optuna.load_study(
        study_name=spec.study,
        storage=storage(sweep_dir),
        sampler=instantiate(spec.sampler, **extra),
        pruner=instantiate(spec.pruner) or optuna.pruners.NopPruner(),
    )


def work(sweep_dir: Path, train: TrainRun, worker: int = 0) -> int:
    """Pull and run trials until the study has all of them; the last worker summarises.
    Returns how many trials this worker ran."""
    spec = Spec.read(sweep_dir)
    study = load(sweep_dir, spec, worker)
    ran = 0
    while (trial := next_trial(study, spec, sweep_dir)) is not None:
        run_trial(trial, spec, sweep_dir, train)
        ran += 1
    with locked(sweep_dir):
        if all(t.state.is_finished() for t in study.get_trials(deepcopy=False)):
            summarize(sweep_dir, spec)
    return ran


def note(study: Any, spec: Spec, sweep_dir: Path) -> str:
    """The study's lines at the top of sweep_summary.md: counts, best trial, dashboard."""
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    lines = [
        f"Optuna study `{spec.study}` in `{JOURNAL_FILE}` ({spec.direction} {spec.objective}): "
        f"{len(trials)} trials, {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
        f"{counts['FAIL']} failed.",
    ]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    if done:
        best = study.best_trial
        lines.append(
            f"Best trial {best.number}: {spec.objective} {best.value:.6g} at {best.params}."
        )
    lines.append(f"Dashboard: `optuna-dashboard {sweep_dir / JOURNAL_FILE}`.")
    return "\n".join(lines)


def summarize(sweep_dir: Path, spec: Spec) -> Any:
    """Write search.md and the sweep summary (table, heatmap over the first two params)."""
    import optuna

    from bioqwen.config import SweepHeatmap
    from bioqwen.sweeps.summary import SEARCH_NOTE, render_sweep

    study = optuna.load_study(study_name=spec.study, storage=storage(sweep_dir))
    atomic_write_text(sweep_dir / SEARCH_NOTE, note(study, spec, sweep_dir) + "\n")
    keys = [*space(spec.params), SweepHeatmap.y]  # one searched key: rows as a grid's default
    return render_sweep(sweep_dir, SweepHeatmap(spec.objective, keys[0], keys[1]))
