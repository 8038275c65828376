"""Fixtures for export tests: the tiny model with each tokenizer, and the deploy packages.

Tests that need the optional deploy extra (`gguf`, `llama-cpp-python`) skip, naming the
package, only where it is not importable; CI installs the extra.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.conftest import compose_config


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:  # absent, or installed without its own dependencies
        return False
    return True


def needs(module: str) -> pytest.MarkDecorator:
    """Skip unless `module` (from the deploy extra) imports."""
    return pytest.mark.skipif(
        not _importable(module),
        reason=f"{module} does not import (pip install -e '.[deploy]'; make setup does)",
    )


@pytest.fixture(scope="session")
def qwen_vocab_model_dir() -> Path:
    """The tiny model with the real 151k Qwen vocabulary (built once, cached)."""
    from bioqwen.models import resolve_model

    cfg = compose_config("evaluate", "model=tiny", "model.tokenizer=qwen1_5")
    return Path(resolve_model(cfg.model))
