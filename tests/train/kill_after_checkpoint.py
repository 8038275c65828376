"""Run `bioqwen train`, SIGKILL-ing this process right after checkpoint N is written.

usage: python tests/train/kill_after_checkpoint.py N <hydra overrides...>
A real hard kill (no cleanup, no atexit), at a known point, so the test is deterministic.
"""

from __future__ import annotations

import os
import signal
import sys

from transformers import Trainer

from bioqwen import cli


def main() -> None:
    """Patch checkpoint saving to kill the process after step N, then run the train job."""
    kill_at = int(sys.argv[1])
    save = Trainer._save_checkpoint

    def save_then_die(self: Trainer, model: object, trial: object) -> None:
        save(self, model, trial)
        if self.state.global_step >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer._save_checkpoint = save_then_die  # type: ignore[method-assign]
    cli.main(["train", *sys.argv[2:]])


if __name__ == "__main__":
    main()
