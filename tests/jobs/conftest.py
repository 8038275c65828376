"""Shared pieces of the job tests: the data tests' sample mix (prepared once) and W&B readback."""

from pathlib import Path
from typing import Any

from bioqwen.tracking import read_offline_run
from tests.data.conftest import sample_cache, sample_prepared  # noqa: F401
from tests.train.conftest import mix_dir  # noqa: F401  (a fixture, found by pytest by name)


def wandb_summary(run_dir: Path) -> dict[str, Any]:
    """The summary of the one offline W&B run a job left in its run directory."""
    (run,) = (run_dir / "wandb").glob("offline-run-*")
    return read_offline_run(run)["summary"]  # type: ignore[no-any-return]
