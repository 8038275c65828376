"""Shared fixtures: the real composed configs, shrunk for CPU, and the tiny model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import bioqwen.config  # noqa: F401  (registers the schemas)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("BIOQWEN_CACHE", str(ROOT / ".cache" / "bioqwen"))


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """Compose a job's real primary config with overrides (no tracking unless asked)."""

    def _compose(job: str, *overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(job, overrides=["tracking=disabled", *overrides])

    return _compose


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny model with the small BPE tokenizer (built once, cached)."""
    from bioqwen.models import resolve_model

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("model/tiny")
    return Path(resolve_model(cfg.model))
