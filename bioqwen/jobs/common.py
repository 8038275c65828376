"""What every job does around its work: run directory, saved config, tracking, user errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bioqwen import tracking
from bioqwen.errors import BioqwenError
from bioqwen.runs import atomic_write_text, write_metrics

log = logging.getLogger("bioqwen")
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


@dataclass
class Run:
    """The run directory of one job invocation and its tracker."""

    dir: Path
    cfg: DictConfig
    tracker: tracking.Tracker

    def finish(self, metrics: dict[str, Any]) -> None:
        """Write metrics.json and the same keys into the W&B summary."""
        write_metrics(self.dir, metrics)
        self.tracker.summary(metrics)


def plain(node: Any) -> dict[str, Any]:
    """A config node as plain, resolved Python containers (what the library functions take)."""
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


def run_dir() -> Path:
    """The Hydra output directory of the current job (hydra.run.dir or a sweep subdir)."""
    return Path(HydraConfig.get().runtime.output_dir)


@contextmanager
def open_run(
    cfg: DictConfig,
    job: str,
    name: str,
    group: str | None = None,
    tags: list[str] | None = None,
    resume: bool = False,
) -> Iterator[Run]:
    """Save the resolved config, start tracking (continuing the directory's W&B run when
    resuming), and always close the tracker."""
    directory = run_dir()
    container = plain(cfg)
    atomic_write_text(directory / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    tracker = tracking.start(
        cfg.tracking,
        directory,
        container,
        job,
        name=name,
        group=group,
        tags=tags,
        run_id=tracking.previous_run_id(directory) if resume else None,
    )
    try:
        yield Run(directory, cfg, tracker)
    finally:
        tracker.finish()


def user_errors(main: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Turn a BioqwenError into one clear line on stderr and exit status 2."""

    def wrapped(cfg: DictConfig) -> Any:
        try:
            return main(cfg)
        except BioqwenError as err:
            print(f"bioqwen: error: {err}", file=sys.stderr)
            sys.exit(2)

    wrapped.__name__ = main.__name__
    wrapped.__doc__ = main.__doc__
    return wrapped
