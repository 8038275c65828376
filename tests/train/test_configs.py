"""Shipped training configs compose: the demo experiment, sweeps, DeepSpeed/accelerate files."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml
from hydra.errors import ConfigCompositionException

from tests.train.conftest import ROOT, compose_train


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


def test_deepspeed_leaves_the_optimizer_and_schedule_to_the_stage(
    tiny_model_dir, mix_dir, tmp_path, monkeypatch
):
    from types import SimpleNamespace

    import accelerate.utils
    from accelerate.utils.deepspeed import DummyOptim, DummyScheduler
    from transformers.integrations.deepspeed import deepspeed_optim_sched

    # accelerate exports these only when deepspeed is installed; the logic needs neither.
    monkeypatch.setattr(accelerate.utils, "DummyOptim", DummyOptim, raising=False)
    monkeypatch.setattr(accelerate.utils, "DummyScheduler", DummyScheduler, raising=False)

    from tests.train.test_trainer import _trainer

    zero2 = json.loads((ROOT / "conf" / "deepspeed" / "zero2.json").read_text())
    overrides = ("stage.learning_rate=3e-4", "stage.lr_scheduler=cosine", "stage.warmup_ratio=0.2")
    trainer = _trainer(tmp_path, tiny_model_dir, mix_dir, "pad", *overrides)
    # What the Trainer does with the config under DeepSpeed (deepspeed itself is not needed).
    ds = SimpleNamespace(config=zero2, is_offload=lambda: False)
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    optimizer, scheduler = deepspeed_optim_sched(trainer, ds, trainer.args, 100, params)
    assert not isinstance(optimizer, DummyOptim) and not isinstance(scheduler, DummyScheduler)
    assert optimizer.param_groups[0]["lr"] == 3e-4
    # The schedule the Trainer then builds is the stage's: cosine after a 20-step warm-up.
    schedule = trainer.create_scheduler(100, optimizer)
    rates = []
    for _ in range(100):
        rates.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert rates[0] == 0 and rates[20] == pytest.approx(3e-4)
    assert rates[60] == pytest.approx(3e-4 * 0.5, rel=1e-6)  # cosine half-way point


@pytest.mark.parametrize(
    "override",
    ["stage.learnig_rate=1e-4", "method.lora.rr=8", "model.hubid=x", "generation_eval.tagret=x"],
)
def test_a_misspelled_train_key_fails_naming_it(override, tmp_path):
    key = override.split("=")[0].rsplit(".", 1)[-1]
    with pytest.raises(ConfigCompositionException, match=key):
        compose_train(tmp_path, override)
