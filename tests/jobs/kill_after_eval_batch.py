"""Run `bioqwen evaluate`, SIGKILL-ing this process right after N batches reach the journal.

usage: python tests/jobs/kill_after_eval_batch.py N <hydra overrides...>
A real hard kill (no cleanup, no atexit), at a known point, so the test is deterministic.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bioqwen import cli
from bioqwen.eval import journal


def main() -> None:
    """Patch the journal's appender to kill the process after N batches, then evaluate."""
    kill_at = int(sys.argv[1])
    make = journal.appender

    def appender(path: Path, ids: Sequence[str], chats: Sequence[str]) -> journal.Append:
        append = make(path, ids, chats)
        written = [0]

        def append_then_die(indices: Sequence[int], generations: Sequence[object]) -> None:
            append(indices, generations)  # type: ignore[arg-type]
            written[0] += 1
            if written[0] >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        return append_then_die

    journal.appender = appender  # type: ignore[assignment]
    cli.main(["evaluate", *sys.argv[2:]])


if __name__ == "__main__":
    main()
