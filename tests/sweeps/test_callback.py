"""What the sweep callback checks before any point runs, and how it places points on GPUs."""

from __future__ import annotations

import os
from dataclasses import fields

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import DictConfig

from bioqwen.config import SweepCallbackConfig, SweepSettings
from bioqwen.sweeps import SweepError
from bioqwen.sweeps.callback import (
    bind_gpu,
    check_keys,
    check_launcher,
    check_sweep,
    point_gpu,
    seed_axis,
)
from bioqwen.sweeps.point import sweep_settings
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


def test_the_default_objective_and_metric_pass(train_cfg: DictConfig) -> None:
    check_sweep(train_cfg)
    check_sweep(compose_with_hydra("model=tiny", "hydra.callbacks.sweep.objective=eval/ner_loss"))


@pytest.mark.parametrize("key", ["objective", "metric"])
@pytest.mark.parametrize("name", ["eval/los", "eval_loss", "loss"])
def test_a_misspelled_objective_is_named_with_the_known_metrics(key: str, name: str) -> None:
    cfg = compose_with_hydra("model=tiny", f"hydra.callbacks.sweep.{key}={name}")
    with pytest.raises(SweepError) as caught:
        check_sweep(cfg)
    message = str(caught.value)
    assert message.startswith(f"hydra.callbacks.sweep.{key}='{name}' is not a metric of the train")
    assert "known: eval/loss, train/loss," in message and "eval/<task>_loss" in message
    assert "\n" not in message


def test_the_sweep_settings_are_the_schema_s_and_typed() -> None:
    node = compose_with_hydra("model=tiny").hydra.callbacks.sweep
    assert set(node) == {f.name for f in fields(SweepCallbackConfig)}
    assert sweep_settings(node) == SweepSettings()  # the defaults, from the schema only
    given = compose_with_hydra("model=tiny", "hydra.callbacks.sweep.seeds=[1,2]").hydra
    assert sweep_settings(given.callbacks.sweep).seeds == [1, 2]
    callback = instantiate(given.callbacks.sweep)  # as Hydra builds it
    assert callback.settings == SweepSettings(seeds=[1, 2])
    with pytest.raises(ConfigCompositionException, match=r"hydra\.callbacks\.sweep\.fail_fst"):
        compose_with_hydra("model=tiny", "hydra.callbacks.sweep.fail_fst=true")
    with pytest.raises(ConfigCompositionException, match="seeds"):
        compose_with_hydra("model=tiny", "hydra.callbacks.sweep.seeds=[a]")


def test_seeds_become_one_axis() -> None:
    assert seed_axis([], ["model=tiny"]) is None
    assert seed_axis([1, 2, 3], ["stage.learning_rate=1e-4,3e-4"]) == "seed=1,2,3"


@pytest.mark.parametrize(
    ("seeds", "task", "message"),
    [
        ([7], [], r"seeds=\[7\]: one seed measures no seed noise"),
        ([7, 7], [], "one seed"),
        ([1, 2], ["seed=3"], "both set the seed"),
    ],
)
def test_bad_seeds_are_named(seeds: list[int], task: list[str], message: str) -> None:
    with pytest.raises(SweepError, match=message):
        seed_axis(seeds, task)


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
