"""Run `bioqwen score-data`, SIGKILL-ing this process while its second batch is scored.

usage: python tests/jobs/kill_after_batch.py <hydra overrides...>
A real hard kill (no cleanup, no atexit) at a known point, so the test is deterministic.
"""

from __future__ import annotations

import os
import signal
import sys

from bioqwen import cli
from bioqwen.quality import reward


def main() -> None:
    """Kill the process when the second batch starts (the first is written and fsync'ed)."""
    score = reward.score_texts
    calls = []

    def die_on_second_batch(scorer: reward.Scorer, texts: list[str]) -> list[float]:
        calls.append(len(texts))
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return score(scorer, texts)

    reward.score_texts = die_on_second_batch  # type: ignore[assignment]
    cli.main(["score-data", *sys.argv[1:]])


if __name__ == "__main__":
    main()
