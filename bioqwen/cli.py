"""`bioqwen <job> [hydra overrides]`: dispatch to the job's Hydra entry point.

Each job's module is imported only when that job runs (one small function per job below), so
`bioqwen --help` and `bioqwen plan` start without importing torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType


def _prepare() -> ModuleType:
    from bioqwen.jobs import prepare

    return prepare


def _train() -> ModuleType:
    from bioqwen.jobs import train

    return train


def _evaluate() -> ModuleType:
    from bioqwen.jobs import evaluate

    return evaluate


def _score() -> ModuleType:
    from bioqwen.jobs import score

    return score


def _report() -> ModuleType:
    from bioqwen.jobs import report

    return report


def _chat() -> ModuleType:
    from bioqwen.jobs import chat

    return chat


def _score_data() -> ModuleType:
    from bioqwen.jobs import score_data

    return score_data


def _pipeline() -> ModuleType:
    from bioqwen.jobs import pipeline

    return pipeline


def _export() -> ModuleType:
    from bioqwen.jobs import export

    return export


def _fetch_data() -> ModuleType:
    from bioqwen.jobs import fetch_data

    return fetch_data


def _plan() -> ModuleType:
    from bioqwen.jobs import plan

    return plan


def _search() -> ModuleType:
    from bioqwen.jobs import search

    return search


def _sweep() -> ModuleType:
    from bioqwen.sweeps import command  # status|summarize <sweep dir>: not a Hydra job

    return command


# Job name -> its module (`main()` runs the command; Hydra jobs also define `run(cfg)`).
JOBS: dict[str, Callable[[], ModuleType]] = {
    "prepare": _prepare,
    "train": _train,
    "evaluate": _evaluate,
    "score": _score,
    "report": _report,
    "chat": _chat,
    "score-data": _score_data,
    "pipeline": _pipeline,
    "export": _export,
    "fetch-data": _fetch_data,
    "plan": _plan,
    "search": _search,
    "sweep": _sweep,
}

USAGE = "usage: bioqwen <job> [hydra overrides...]\njobs: " + ", ".join(JOBS)


def main(argv: list[str] | None = None) -> None:
    """Run a job; Hydra reads the overrides from sys.argv."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    job, rest = args[0], args[1:]
    if job not in JOBS:
        print(f"bioqwen: error: unknown job {job!r}\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    module = JOBS[job]()
    sys.argv = [f"bioqwen-{job}", *rest]
    module.main()


if __name__ == "__main__":
    main()
