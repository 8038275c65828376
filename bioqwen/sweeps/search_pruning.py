"""The pruner's view of a training run: eval loss reported to the Optuna trial at every
evaluation, and the run stopped when the pruner says so.

The search (bioqwen.sweeps.search) runs the train job in-process inside `pruning(trial, key)`;
the train job adds `callbacks()` to its Trainer, which is empty outside a search. A pruned run
stops at the evaluation that pruned it and finishes normally (adapter, metrics.json, W&B run),
so its run directory is complete; the search records the trial as PRUNED.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


@dataclass
class PruneWatch:
    """One trial and what its pruner decided (`pruned_at`: the step and value, or None)."""

    trial: Any  # optuna.Trial
    key: str  # the Trainer's metric name, e.g. eval_loss
    pruned_at: tuple[int, float] | None = None
    last_step: int = -1  # the last step reported (the job's final evaluation repeats it)


_WATCH: contextvars.ContextVar[PruneWatch | None] = contextvars.ContextVar("prune", default=None)


def trainer_key(metric: str) -> str:
    """The Trainer's name of a metrics.json eval key: eval/loss -> eval_loss."""
    return metric.replace("/", "_", 1)


class PruningCallback(TrainerCallback):
    """Report the watched eval metric to the trial; stop training once it should be pruned."""

    def __init__(self, watch: PruneWatch) -> None:
        self.watch = watch

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        """Per-task evaluations carry other keys; the job's final evaluation, at a step already
        reported, is not reported again."""
        watch = self.watch
        if watch.pruned_at is not None or not metrics or watch.key not in metrics:
            return
        value, step = float(metrics[watch.key]), int(state.global_step)
        if step <= watch.last_step:
            return
        watch.trial.report(value, step)
        watch.last_step = step
        if watch.trial.should_prune():
            watch.pruned_at = (step, value)
            control.should_training_stop = True


def callbacks() -> list[TrainerCallback]:
    """The pruning callback of the trial this process is running, if any."""
    watch = _WATCH.get()
    return [] if watch is None else [PruningCallback(watch)]


@contextmanager
def pruning(trial: Any, metric: str) -> Iterator[PruneWatch]:
    """Within the block, a train run reports `metric` (e.g. eval/loss) to `trial`."""
    watch = PruneWatch(trial, trainer_key(metric))
    token = _WATCH.set(watch)
    try:
        yield watch
    finally:
        _WATCH.reset(token)
