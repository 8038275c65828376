"""What the sweep callback checks before any point runs, and how it places points on GPUs."""

from __future__ import annotations

import os

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from bioqwen.sweeps import SweepError
from bioqwen.sweeps.callback import (
    bind_gpu,
    check_keys,
    check_launcher,
    check_optuna,
    check_sweep,
    point_gpu,
)
from tests.conftest import CONF


def compose_with_hydra(*overrides: str) -> DictConfig:
    """The train config with its hydra node, as a callback receives it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train", overrides=["tracking=disabled", *overrides], return_hydra_config=True
        )


@pytest.fixture(scope="module")
def train_cfg() -> DictConfig:
    return compose_with_hydra("model=tiny")


def test_existing_keys_and_config_groups_pass(train_cfg: DictConfig) -> None:
    check_keys(
        train_cfg,
        [
            "stage.learning_rate=1e-4,2e-4",
            "method.lora.r=4,8",
            "model=tiny,qwen2_0_5b",
            "data/mix=sample",
            "+extra.key=1,2",
            "hydra.sweeper.max_batch_size=2",
        ],
    )


@pytest.mark.parametrize("key", ["stage.learnin_rate", "method.lora.rank", "seedd"])
def test_a_missing_swept_key_is_named(train_cfg: DictConfig, key: str) -> None:
    with pytest.raises(SweepError, match=f"swept key '{key}' does not exist in the train config"):
        check_keys(train_cfg, ["stage.learning_rate=1e-4,2e-4", f"{key}=1,2"])


def test_the_shipped_optuna_space_is_valid() -> None:
    cfg = compose_with_hydra("hydra/sweeper=optuna_lr_lora")
    check_sweep(cfg)
    assert set(cfg.hydra.sweeper.params) == {
        "stage.learning_rate",
        "method.lora.r",
        "method.lora.alpha",
    }


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("stage.learning_rate=tag(log, interval(0, 1e-3))", "low"),
        ("stage.learning_rate=interval(1e-3, 1e-5)", "low"),
    ],
)
def test_an_invalid_optuna_distribution_is_named(space: str, message: str) -> None:
    with pytest.raises(SweepError, match=rf"Optuna search space '{space.split('=')[0]}.*{message}"):
        check_optuna(["method.lora.r=choice(4, 8)", space])


def test_an_optuna_params_key_is_checked_too() -> None:
    cfg = compose_with_hydra("hydra/sweeper=optuna_lr_lora")
    with open_dict(cfg):
        cfg.hydra.sweeper.params["stage.lr"] = "interval(0.1, 0.2)"  # as a YAML file would
    with pytest.raises(SweepError, match=r"'stage\.lr'"):
        check_sweep(cfg)


def test_slurm_needs_a_partition() -> None:
    with pytest.raises(SweepError, match=r"hydra\.launcher\.partition is not set"):
        check_launcher(compose_with_hydra("hydra/launcher=slurm").hydra.launcher)
    with pytest.raises(SweepError, match="partition"):  # the plugin's own config, unset too
        check_launcher(compose_with_hydra("hydra/launcher=submitit_slurm").hydra.launcher)
    check_launcher(
        compose_with_hydra("hydra/launcher=slurm", "hydra.launcher.partition=gpu").hydra.launcher
    )


def test_points_take_the_gpus_in_turn() -> None:
    assert [point_gpu(n, [2, 3]) for n in range(5)] == ["2", "3", "2", "3", "2"]


@pytest.mark.parametrize(
    ("launcher", "in_slurm_job", "expected"),
    [
        ("hydra/launcher=local_parallel", False, "1"),  # point 3 of gpus [0, 1]: GPU 1
        ("hydra/launcher=submitit_local", False, "1"),
        ("hydra/launcher=local_parallel", True, None),  # inside a SLURM allocation
        ("hydra/launcher=slurm", False, None),  # SLURM sets it on the node
        ("hydra/launcher=slurm_cpu", True, None),
        ("hydra/launcher=basic", False, None),  # one process: the GPU is fixed at start
    ],
)
def test_gpu_binding(
    monkeypatch: pytest.MonkeyPatch, launcher: str, in_slurm_job: bool, expected: str | None
) -> None:
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID"):  # set first: restored afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    if in_slurm_job:
        monkeypatch.setenv("SLURM_JOB_ID", "42")
    bind_gpu(compose_with_hydra(launcher).hydra.launcher, 3, [0, 1])
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == expected
