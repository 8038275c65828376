"""Run `bioqwen train`, interrupting it at checkpoint N: SIGKILL right after the checkpoint is
written (`after`) or in the middle of writing it (`during`), or a full disk mid-save (`full`).

usage: python tests/train/interrupt_checkpoint.py <after|during|full> N <hydra overrides...>
Mid-save is once checkpoint-N holds the model weights but not yet the optimizer, scheduler,
RNG and trainer state. A real hard kill (no cleanup, no atexit), or the OSError a write to a
full filesystem raises, at a known point, so the test is deterministic.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path

from transformers import Trainer

from bioqwen import cli
from bioqwen.train.trainer import BioqwenTrainer


def main() -> None:
    """Patch checkpoint saving to kill the process at step N, then run the train job."""
    when, kill_at = sys.argv[1], int(sys.argv[2])
    if when == "after":  # the whole save, completeness mark included
        save = BioqwenTrainer._save_checkpoint

        def save_then_die(self: BioqwenTrainer, model: object, trial: object) -> None:
            save(self, model, trial)
            if self.state.global_step >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        BioqwenTrainer._save_checkpoint = save_then_die  # type: ignore[method-assign]
    else:  # the Trainer saves the weights first, then the optimizer and scheduler
        save_optimizer = Trainer._save_optimizer_and_scheduler

        def die_mid_save(self: Trainer, output_dir: str) -> None:
            if self.state.global_step >= kill_at:
                if when == "during":
                    os.kill(os.getpid(), signal.SIGKILL)
                target = Path(output_dir) / "optimizer.pt"
                target.write_bytes(b"\0" * 1024)  # as far as the disk had room
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
            save_optimizer(self, output_dir)

        Trainer._save_optimizer_and_scheduler = die_mid_save  # type: ignore[method-assign]
    cli.main(["train", *sys.argv[3:]])


if __name__ == "__main__":
    main()
