"""Shared fixtures: the real composed configs, shrunk for CPU, the CLI, and the tiny model.

`compose_config` and `cli` are plain functions too, so module-level helpers and
session fixtures use the same code as the `compose` and `run_cli` fixtures.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig

import bioqwen.config  # noqa: F401  (registers the schemas)
from bioqwen.tracking import read_offline_run

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("BIOQWEN_CACHE", str(ROOT / ".cache" / "bioqwen"))


def compose_config(job: str, *overrides: str) -> DictConfig:
    """A job's real primary config with overrides (no tracking unless an override asks)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(job, overrides=["tracking=disabled", *overrides])


@functools.cache
def system_prompts() -> dict[str, str]:
    """data.system_prompts as a job composes them by default (conf/data/default.yaml)."""
    prompts = compose_config("prepare").data.system_prompts
    return {str(lang): str(text) for lang, text in prompts.items()}


def offline_run(run_dir: Path) -> dict[str, Any]:
    """The one offline W&B run a job left in run_dir, read back (summary, history, artifacts)."""
    (run,) = (Path(run_dir) / "wandb").glob("offline-run-*")
    return read_offline_run(run)  # type: ignore[no-any-return]


def cli(
    *args: str, run_dir: Path | None = None, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `bioqwen <args>` as a user would (a subprocess from the checkout root).

    `run_dir` becomes hydra.run.dir; keyword arguments are extra environment variables
    (W&B offline runs land under the run directory unless WANDB_DIR is given).
    """
    extra = [f"hydra.run.dir={run_dir}"] if run_dir is not None else []
    # WANDB_SERVICE (set once this worker has tracked a run) would make the job share the
    # worker's wandb-core; a job of its own gets its own service, as on the command line.
    inherited = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    environment = {**inherited, "WANDB_MODE": "offline", **env}
    return subprocess.run(
        [sys.executable, "-m", "bioqwen.cli", *args, *extra],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def compose() -> Callable[..., DictConfig]:
    """compose_config as a fixture."""
    return compose_config


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """cli as a fixture."""
    return cli


@pytest.fixture
def rendered_prompts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every chat prompt bioqwen.eval.generate.generate renders while the test runs."""
    from bioqwen.eval import generate

    rendered: list[str] = []
    real = generate.generate

    def recording(model: Any, tokenizer: Any, chats: list[str], *args: Any, **kw: Any) -> Any:
        rendered.extend(chats)
        return real(model, tokenizer, chats, *args, **kw)

    monkeypatch.setattr(generate, "generate", recording)
    return rendered


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny model with the small BPE tokenizer (built once, cached)."""
    from bioqwen.models import resolve_model

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra_compose("model/tiny")
    return Path(resolve_model(cfg.model))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the per-step time and peak RSS tests recorded as `smoke_paper` (tests/smoke),
    also from xdist workers, whose own output pytest does not show."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.getreports(outcome):
            if report.when != "call":
                continue
            for name, value in report.user_properties:
                if name == "smoke_paper":
                    terminalreporter.write_line(str(value))
