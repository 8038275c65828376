"""The train job's reaction to SLURM's time-limit signal (without a cluster: the signal
handler and the requeue are called directly; the real one is in test_slurm_cluster.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from transformers import TrainerControl, TrainerState

from bioqwen.sweeps import preemption


@pytest.fixture
def slurm_point(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A point as the launcher prepares it; requeues are recorded instead of run."""
    requeued: list[str] = []
    monkeypatch.setattr(preemption, "STATE", preemption._State())
    monkeypatch.setattr(preemption, "requeue_now", lambda: requeued.append("requeue"))
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    previous = {s: signal.getsignal(s) for s in (preemption.time_limit_signal(), signal.SIGTERM)}
    preemption.install(max_requeues=1)
    yield requeued
    for number, handler in previous.items():
        signal.signal(number, handler)


def test_local_runs_get_no_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preemption, "STATE", preemption._State())  # no launcher handlers
    assert preemption.callbacks() == []


def test_the_signal_during_training_checkpoints_then_requeues(slurm_point: list[str]) -> None:
    (callback,) = preemption.callbacks()
    state, control = TrainerState(), TrainerControl()
    callback.on_train_begin(None, state, control)
    os.kill(os.getpid(), preemption.time_limit_signal())  # the handler only asks for a checkpoint
    assert slurm_point == [] and preemption.STATE.requested
    callback.on_step_end(None, state, control)
    assert control.should_save and control.should_training_stop
    callback.on_save(None, state, control)
    assert slurm_point == ["requeue"]


def test_the_signal_outside_training_requeues_at_once(slurm_point: list[str]) -> None:
    os.kill(os.getpid(), preemption.time_limit_signal())
    assert slurm_point == ["requeue"]


def test_no_requeue_after_max_num_timeout(
    slurm_point: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    os.kill(os.getpid(), preemption.time_limit_signal())  # SLURM ends it as TIMEOUT
    assert slurm_point == [] and not preemption.STATE.requested
