"""The sample mix, prepared once per test process into a private cache."""

from __future__ import annotations

import pytest

from bioqwen.data.pipeline import Prepared, prepare
from tests.conftest import compose_config as compose


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(scope="session")
def sample_prepared(sample_cache) -> Prepared:
    cfg = compose("prepare", f"data.cache_dir={sample_cache}")
    return prepare(cfg.data, seed=cfg.seed)
