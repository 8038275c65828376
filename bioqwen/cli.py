"""`bioqwen <job> [hydra overrides]`: dispatch to the job's Hydra entry point."""

from __future__ import annotations

import importlib
import sys

JOBS = {
    "prepare": "bioqwen.jobs.prepare",
    "train": "bioqwen.jobs.train",
    "evaluate": "bioqwen.jobs.evaluate",
    "score": "bioqwen.jobs.score",
    "report": "bioqwen.jobs.report",
    "chat": "bioqwen.jobs.chat",
    "score-data": "bioqwen.jobs.score_data",
    "pipeline": "bioqwen.jobs.pipeline",
    "export": "bioqwen.jobs.export",
    "fetch-data": "bioqwen.jobs.fetch_data",
    "plan": "bioqwen.jobs.plan",
    "search": "bioqwen.jobs.search",
    "sweep": "bioqwen.sweeps.command",  # status|summarize <sweep dir>: not a Hydra job
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
    module = importlib.import_module(JOBS[job])
    sys.argv = [f"bioqwen-{job}", *rest]
    module.main()


if __name__ == "__main__":
    main()
