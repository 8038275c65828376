"""Run `bioqwen pipeline`, holding its first step (prepare) mid-work until this process is killed.

usage: python tests/jobs/hold_pipeline_step.py <pipeline overrides...>
The step writes `work-in-progress` into its run directory, prints `holding`, and sleeps: a
pipeline caught in the middle of a step, for a second pipeline to meet.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from omegaconf import DictConfig

from bioqwen import cli
from bioqwen.jobs import prepare
from bioqwen.jobs.common import hold_run_dir, run_dir


def hold(cfg: DictConfig) -> dict[str, Any]:
    """A prepare step that starts writing its run directory and never finishes."""
    directory = run_dir()
    with hold_run_dir(directory):
        (directory / "work-in-progress").write_text(str(os.getpid()))
        print("holding", flush=True)
        time.sleep(600)
    return {}


def main() -> None:
    """Replace the prepare job's run, then run the pipeline."""
    prepare.run = hold
    cli.main(["pipeline", *sys.argv[1:]])


if __name__ == "__main__":
    main()
