"""One multirun point without training: its labels, status file, objective and fail_fast."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from bioqwen.errors import BioqwenError
from bioqwen.sweeps import point
from bioqwen.sweeps.callback import SweepCallback
from tests.sweeps.test_callback import compose_with_hydra


def as_point(tmp_path: Path, *overrides: str) -> DictConfig:
    """Make this process look like point 3 of a multirun into tmp_path."""
    cfg = compose_with_hydra(*overrides)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.sweep.dir = str(tmp_path)
        cfg.hydra.job.num = 3
        cfg.hydra.runtime.output_dir = str(tmp_path / "3")
        cfg.hydra.overrides.task = ["model=tiny", "stage.learning_rate=0.0001"]
    (tmp_path / "3").mkdir(parents=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture(autouse=True)
def no_hydra_left_behind() -> Iterator[None]:
    yield
    HydraConfig.instance().cfg = None  # other tests run outside any multirun


def test_outside_a_multirun_nothing_changes() -> None:
    assert not point.in_multirun() and point.labels() is None


def test_labels_name_the_sweep_group_and_the_overrides(tmp_path: Path) -> None:
    as_point(tmp_path)
    labels = point.labels()
    assert labels is not None and labels.group == point.sweep_group(tmp_path)
    assert labels.tags == ["model=tiny", "stage.learning_rate=0.0001"]
    assert labels.config["sweep"] == {
        "group": labels.group,
        "num": 3,
        "overrides": {"model": "tiny", "stage.learning_rate": "0.0001"},
    }


def test_a_failure_is_recorded_and_returns(tmp_path: Path) -> None:
    as_point(tmp_path)

    def fails() -> dict:
        raise ValueError("`r` should be a positive integer value but the value passed is -1\nmore")

    assert point.run_point(fails, point.settings()) is None
    status = json.loads((tmp_path / "3" / "status.json").read_text())
    assert status["status"] == "failed" and status["pid"] == os.getpid()
    assert (
        status["reason"]
        == "ValueError: `r` should be a positive integer value but the value passed is -1"
    )
    assert point.objective(None, point.settings()) is None


def test_fail_fast_raises_one_user_error(tmp_path: Path) -> None:
    as_point(tmp_path, "hydra.callbacks.sweep.fail_fast=true")

    def fails() -> dict:
        raise BioqwenError("method.lora.r=-1: must be a positive integer")

    with pytest.raises(BioqwenError, match=r"sweep point .*3: method\.lora\.r=-1: must be"):
        point.run_point(fails, point.settings())
    assert json.loads((tmp_path / "3" / "status.json").read_text())["status"] == "failed"


def test_the_objective_is_the_named_metric(tmp_path: Path) -> None:
    as_point(tmp_path, "hydra.callbacks.sweep.objective=ncbi/f1")
    settings = point.settings()  # as the job's entry point reads them, once per point
    metrics = point.run_point(lambda: {"eval/loss": 2.0, "ncbi/f1": 0.5}, settings)
    assert json.loads((tmp_path / "3" / "status.json").read_text())["status"] == "ok"
    assert point.objective(metrics, settings) == 0.5
    assert point.objective({"eval/loss": 2.0}, settings) is None  # missing: the trial fails


def test_submitit_points_get_their_own_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    cfg = as_point(tmp_path, "hydra/launcher=local_parallel")
    SweepCallback(gpus=[0, 1]).on_job_start(config=cfg)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"  # point 3 of 2 GPUs
    basic = as_point(tmp_path / "basic")  # one process for all points: leave devices alone
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    SweepCallback(gpus=[0, 1]).on_job_start(config=basic)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
