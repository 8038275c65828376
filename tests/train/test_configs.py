"""Shipped training configs compose: the demo experiment, sweeps, DeepSpeed/accelerate files."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml

from tests.train.conftest import ROOT, compose_train


def test_demo_experiment_is_short_and_merges(tmp_path):
    cfg = compose_train(tmp_path, "+experiment=train_demo", "stage=stage2")
    assert cfg.model.name == "tiny" and cfg.data.mix.name == "sample"
    assert cfg.stage.name == "stage2" and 0 < cfg.stage.max_steps <= 20
    assert cfg.merge is True


def test_stage_picks_its_own_mix_unless_overridden(tmp_path):
    assert compose_train(tmp_path, "stage=stage2").data.mix.name == "stage2"
    assert compose_train(tmp_path, "stage=stage2", "data/mix=sample").data.mix.name == "sample"


@pytest.mark.parametrize("sweep", sorted((ROOT / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_sweep_parameters_are_real_overrides(sweep, tmp_path):
    spec = yaml.safe_load(sweep.read_text())
    fixed = [a for a in spec["command"][2:] if "${" not in a and not a.startswith("tracking=")]
    choices = []
    for key, values in spec["parameters"].items():
        options = values.get("values") or [values.get("min"), values.get("max")]
        choices.append([f"{key}={v}" for v in options])
    for combo in itertools.islice(itertools.product(*choices), 4):
        cfg = compose_train(tmp_path, *fixed, *combo)
        assert cfg.stage.learning_rate in {float(c.split("=")[1]) for c in choices[0]}


def test_deepspeed_and_accelerate_configs_parse():
    zero2 = json.loads((ROOT / "conf" / "deepspeed" / "zero2.json").read_text())
    assert zero2["zero_optimization"]["stage"] == 2
    # "auto" lets the Trainer fill batch, accumulation and clipping from the stage config.
    assert zero2["train_micro_batch_size_per_gpu"] == "auto"
    for name in ("multi_gpu.yaml", "deepspeed_zero2.yaml"):
        assert (
            yaml.safe_load((ROOT / "conf" / "accelerate" / name).read_text())["num_machines"] == 1
        )


@pytest.mark.parametrize(
    "override",
    ["stage.learnig_rate=1e-4", "method.lora.rr=8", "model.hubid=x", "generation_eval.tagret=x"],
)
def test_a_misspelled_train_key_fails_naming_it(override, tmp_path):
    key = override.split("=")[0].rsplit(".", 1)[-1]
    with pytest.raises(Exception, match=key):
        compose_train(tmp_path, override)
