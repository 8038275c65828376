"""On a SLURM compute node: a point's attempt ends cleanly when SLURM says so.

- submitit's time-limit signal (`--signal=USR2@<signal_delay_s>` in submitit 1.5; the
  SUBMITIT_PREEMPT_SIGNAL variable changes it): while the train job's
  loop runs, the next optimizer step ends with a checkpoint, then the job is requeued; outside
  training (imports, data loading) it is requeued at once. At most `max_num_timeout` requeues
  per point (SLURM_RESTART_COUNT counts them); after that SLURM ends it as TIMEOUT.
- SIGTERM (`scancel`, `scontrol requeue`, preemption): the attempt ends at once, as SIGKILL
  would after KillWait, so a cancelled point stops training.

The requeued attempt resumes from the newest checkpoint (bioqwen.sweeps.launcher). Handlers
are installed by the launcher only, so local runs never see them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

log = logging.getLogger("bioqwen.sweeps")

TIMEOUT_S = 30  # scontrol's answer


@dataclass
class _State:
    installed: bool = False  # the launcher's handlers are in place (a SLURM point)
    training: bool = False  # a train loop is running with CheckpointOnSignal
    requested: bool = False  # the signal came during training: checkpoint, then requeue


STATE = _State()


def slurm_job_id() -> str:
    """This job's id as squeue shows it (`<array>_<task>` for an array task)."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array:
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ["SLURM_JOB_ID"]


def exit_now(code: int) -> None:
    """End this attempt as SLURM's SIGKILL would, without cleanup: a SystemExit raised inside
    training can be swallowed on its way up, and nothing of an unfinished attempt is kept but
    its checkpoints and the W&B run file that a resumed attempt continues."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def requeue_now() -> None:
    """Put this job back in the queue and end the attempt."""
    job = slurm_job_id()
    log.warning("job %s: requeued; the next attempt resumes from the newest checkpoint", job)
    subprocess.run(["scontrol", "requeue", job], check=False, timeout=TIMEOUT_S)
    exit_now(128 + time_limit_signal())


def time_limit_signal() -> signal.Signals:
    """The signal submitit asks SLURM to send before the time limit (sbatch --signal)."""
    from submitit.core.job_environment import JobEnvironment

    return signal.Signals[f"SIG{JobEnvironment.USR_SIG}"]


def install(max_requeues: int) -> None:
    """The time-limit and SIGTERM handlers of a point's attempt."""

    def on_time_limit(signum: int, frame: FrameType | None) -> None:
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
        if restarts >= max_requeues:
            log.warning(
                "job %s: time limit near; not requeued (%d of max_num_timeout=%d requeues "
                "done): SLURM ends it as TIMEOUT",
                slurm_job_id(),
                restarts,
                max_requeues,
            )
            return
        if STATE.training:
            log.warning("job %s: time limit near: checkpoint after this step", slurm_job_id())
            STATE.requested = True
            return
        requeue_now()

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        log.warning("job %s: SIGTERM from SLURM: this attempt ends", slurm_job_id())
        exit_now(128 + signum)

    signal.signal(time_limit_signal(), on_time_limit)
    signal.signal(signal.SIGTERM, on_terminate)
    STATE.installed = True


def callbacks() -> list[Any]:
    """The train job's callbacks for a SLURM point (none elsewhere): checkpoint on the signal."""
    if not STATE.installed:
        return []
    from transformers import TrainerCallback

    class CheckpointOnSignal(TrainerCallback):
        """Save a checkpoint at the step end after SLURM's time-limit signal, then requeue."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            STATE.training = True

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if STATE.requested:
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if STATE.requested and state.is_world_process_zero:
                requeue_now()

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            STATE.training = False

    return [CheckpointOnSignal()]
