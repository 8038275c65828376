"""Hand-written run directories (config.yaml, metrics.json, lineage.json, data_card.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml


def write_run(
    directory: Path,
    job: str,
    config: dict[str, Any],
    metrics: dict[str, Any] | None,
    lineage: dict[str, Any] | None = None,
    data_card: dict[str, Any] | None = None,
) -> Path:
    """A run directory as a job leaves it (metrics None: a run that never finished)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump({"job": job, **config}), "utf-8")
    files = {"metrics.json": metrics, "lineage.json": lineage, "data_card.json": data_card}
    for name, content in files.items():
        if content is not None:
            (directory / name).write_text(json.dumps(content), "utf-8")
    return directory


def evaluation(model: str, benchmark: str, **extra: Any) -> dict[str, Any]:
    """The config of an evaluate run of a model config on a benchmark."""
    return {
        "model": {"name": model, "torch_dtype": "bfloat16"},
        "benchmark": {"name": benchmark},
        **extra,
    }


def training(model: str, stage: str) -> dict[str, Any]:
    """The config of a train run."""
    return {"model": {"name": model}, "stage": {"name": stage}}


@pytest.fixture
def make_run() -> Callable[..., Path]:
    """write_run as a fixture."""
    return write_run


@pytest.fixture
def labels() -> dict[str, Any]:
    """The label mappings of the real conf/report.yaml."""
    from omegaconf import OmegaConf

    from tests.conftest import compose_config

    cfg = compose_config("report")
    return OmegaConf.to_container(cfg.labels, resolve=True)  # type: ignore[return-value]
