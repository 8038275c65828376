"""Batching equivalence (paper padding vs padding-free), throughput counting, schedule settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import plain
from bioqwen.models import tokenizer_for
from bioqwen.tracking import Tracker
from bioqwen.train.attention import SEGMENTED_SDPA
from bioqwen.train.bins import plan_batches
from bioqwen.train.callbacks import (
    SAMPLES,
    TOKENS_ALL,
    TOKENS_REAL,
    GenerationMetricsCallback,
    batch_counts,
)
from bioqwen.train.data import load_prepared, tokenize_for_training
from bioqwen.train.model import load_base
from bioqwen.train.trainer import accumulation_steps, build_trainer, check_stage, sft_config
from tests.train.conftest import compose_train


def _trainer(
    tmp_path: Path, model_dir: Path, mix_dir: Path, batching: str, *overrides: str, callbacks=None
):
    cfg = compose_train(
        tmp_path, "model=tiny", "method=full", f"stage.batching={batching}", *overrides
    )
    stage, method = plain(cfg.stage), plain(cfg.method)
    tokenizer = tokenizer_for(cfg.model, str(model_dir))
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, 1024)
    model = load_base(str(model_dir), plain(cfg.model), method, tokenizer, "fp32")
    batches = plan_batches(stage, data.train, 1)
    out = tmp_path / batching
    args = sft_config(stage, method, out, 42, "fp32", False, accumulation=batches.accumulation)
    metrics = bool(stage["token_metrics"])
    return build_trainer(model, tokenizer, batches.train, None, args, callbacks, metrics)


@pytest.mark.parametrize("attn", ["sdpa", SEGMENTED_SDPA])
def test_padding_free_batch_gives_the_same_loss_as_padding(tiny_model_dir, mix_dir, tmp_path, attn):
    padded_trainer = _trainer(
        tmp_path, tiny_model_dir, mix_dir, "pad", f"model.attn_implementation={attn}"
    )
    flat_trainer = _trainer(
        tmp_path, tiny_model_dir, mix_dir, "padding_free", f"model.attn_implementation={attn}"
    )
    padded = next(iter(padded_trainer.get_train_dataloader()))
    flat = next(iter(flat_trainer.get_train_dataloader()))
    assert "attention_mask" in padded and "attention_mask" not in flat
    assert flat["input_ids"].shape[0] == 1 and "position_ids" in flat
    # Same samples, same real tokens; only the padded batch carries padding.
    pad_counts, flat_counts = batch_counts(padded), batch_counts(flat)
    assert pad_counts[TOKENS_REAL] == flat_counts[TOKENS_REAL] == flat_counts[TOKENS_ALL]
    assert pad_counts[SAMPLES] == flat_counts[SAMPLES] == 4
    assert pad_counts[TOKENS_ALL] > pad_counts[TOKENS_REAL]
    # Identical weights (same seed, same base) in eval mode: the loss must agree.
    model = padded_trainer.model.eval()
    flat_trainer.model.load_state_dict(model.state_dict())
    flat_model = flat_trainer.model.eval()
    with torch.no_grad():
        loss_pad = padded_trainer.compute_loss(model, dict(padded))
        loss_flat = flat_trainer.compute_loss(flat_model, dict(flat))
    assert torch.isclose(loss_pad, loss_flat, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attn", ["sdpa", SEGMENTED_SDPA])
def test_packed_sample_sees_only_itself(tiny_model_dir, mix_dir, tmp_path, attn):
    cfg = compose_train(tmp_path, "model=tiny", "method=full", f"model.attn_implementation={attn}")
    tokenizer = tokenizer_for(cfg.model, str(tiny_model_dir))
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, 1024)
    model = load_base(str(tiny_model_dir), dict(cfg.model), dict(cfg.method), tokenizer, "fp32")
    model.eval()
    first, second = (torch.tensor(data.train[i]["input_ids"]) for i in (0, 1))
    packed = torch.cat([first, second])[None]
    positions = torch.cat([torch.arange(len(first)), torch.arange(len(second))])[None]
    with torch.no_grad():
        alone = model(input_ids=second[None]).logits[0]
        together = model(input_ids=packed, position_ids=positions).logits[0, len(first) :]
        leaky = model(input_ids=packed, position_ids=positions, use_cache=True).logits[0]
    # load_base turns the KV cache off, which is what keeps the block-diagonal mask.
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)
    leak = (leaky[len(first) :] - alone).abs().max()
    if attn == "sdpa":
        # The check has teeth: with sdpa and the cache on, the second sample sees the first.
        assert leak > 1e-2
    else:
        # Per-sample SDPA splits the row at every position restart, cache or not.
        assert leak < 1e-4


def test_the_stage_settings_reach_the_trainer(tmp_path):
    cfg = compose_train(
        tmp_path, "model=tiny", "stage.learning_rate=3e-4", "stage.warmup_ratio=0.2"
    )
    args = sft_config(plain(cfg.stage), plain(cfg.method), tmp_path, 42, "fp32", has_eval=True)
    assert args.learning_rate == 3e-4 and args.get_warmup_steps(100) == 20
    assert args.eval_strategy == "no"  # eval_steps=0: only the final evaluation
    assert args.max_length == cfg.data.max_tokens  # one token limit for data and model


@pytest.mark.parametrize(
    ("recipe", "world", "per_device", "accumulation"),
    [("paper", 1, 4, 16), ("paper", 4, 4, 4), ("authors_notebook", 1, 8, 8)],
)
def test_accumulation_makes_the_effective_batch_of_the_paper(
    tmp_path, recipe, world, per_device, accumulation
):
    cfg = compose_train(tmp_path, "model=tiny", f"stage/recipe={recipe}")
    stage, method = plain(cfg.stage), plain(cfg.method)
    args = sft_config(stage, method, tmp_path, 42, "fp32", has_eval=False, world_size=world)
    assert args.per_device_train_batch_size == per_device
    assert args.gradient_accumulation_steps == accumulation
    assert per_device * accumulation * world == stage["effective_batch_size"] == 64


def test_an_effective_batch_the_processes_cannot_make_is_an_error(tmp_path):
    stage = plain(compose_train(tmp_path, "model=tiny", "stage.effective_batch_size=10").stage)
    with pytest.raises(BioqwenError, match=r"stage.effective_batch_size=10: .* 4 x 1 = 4"):
        accumulation_steps(stage, 1)
    stage["effective_batch_size"] = 12
    assert accumulation_steps(stage, 1) == 3
    with pytest.raises(BioqwenError, match=r"4 x 2 = 8"):
        accumulation_steps(stage, 2)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("warmup_ratio", 1.5, "warmup_ratio"),
        ("per_device_batch_size", 0, "per_device_batch_size"),
        ("learning_rate", -1e-4, r"stage.learning_rate=-0.0001: must be > 0"),
        ("keep_best", True, r"set stage.eval_steps > 0"),
        ("early_stopping", 2, r"set stage.eval_steps > 0"),
    ],
)
def test_check_stage_rejects_bad_values(tmp_path, key, value, message):
    stage = dict(compose_train(tmp_path, "model=tiny").stage)
    stage[key] = value
    with pytest.raises(BioqwenError, match=message):
        check_stage(stage)


def test_packed_batching_bins_samples_without_padding(tiny_model_dir, mix_dir, tmp_path):
    trainer = _trainer(tmp_path, tiny_model_dir, mix_dir, "packed")
    batch = next(iter(trainer.get_train_dataloader()))
    counts = batch_counts(batch)
    assert "attention_mask" not in batch and "position_ids" in batch
    # 4 bins of at most max_length tokens, flattened into one row; each bin holds several
    # samples (position ids restart per sample), and nothing is padding.
    assert batch["input_ids"].shape[0] == 1 and batch["input_ids"].shape[1] <= 4 * 1024
    assert counts[SAMPLES] > 4
    assert counts[TOKENS_REAL] == counts[TOKENS_ALL]


def test_step_time_stops_before_the_generation_hook_runs(tiny_model_dir, mix_dir, tmp_path):
    stopped: list[bool] = []

    def hook(model, tokenizer):
        # The optimizer step's clock must already be stopped when the hook starts.
        stopped.append(trainer.meter._started is None)
        return {"probe": 1.0}

    tokenizer = tokenizer_for(compose_train(tmp_path, "model=tiny").model, str(tiny_model_dir))
    gen = GenerationMetricsCallback(hook, tokenizer, 1, Tracker(None))
    overrides = ("stage.max_steps=2", "stage.effective_batch_size=4")
    trainer = _trainer(tmp_path, tiny_model_dir, mix_dir, "pad", *overrides, callbacks=[gen])
    trainer.train()
    assert stopped == [True, True]
    assert gen.last["perf/gen_hook_s"] > 0


def test_keep_best_ends_on_the_best_eval_loss_checkpoint(tmp_path):
    overrides = ("stage.keep_best=true", "stage.eval_steps=2", "stage.save_steps=4")
    stage = plain(compose_train(tmp_path, "model=tiny", *overrides).stage)
    args = sft_config(stage, {"gradient_checkpointing": False}, tmp_path, 42, "fp32", True)
    assert args.load_best_model_at_end and args.greater_is_better is False
    assert args.metric_for_best_model == "loss"
    # Off by default (the paper trains to the end), and a checkpoint must exist at each eval.
    default = plain(compose_train(tmp_path, "model=tiny").stage)
    assert not sft_config(
        default, {"gradient_checkpointing": False}, tmp_path, 42, "fp32", True
    ).load_best_model_at_end
    stage["save_steps"] = 5
    with pytest.raises(BioqwenError, match=r"save_steps=5 must be a multiple of .*eval_steps=2"):
        check_stage(stage)


def test_the_packed_rows_are_the_bins_trl_would_build(tiny_model_dir, mix_dir, tmp_path):
    ours = _trainer(tmp_path, tiny_model_dir, mix_dir, "packed")
    tokenizer = ours.processing_class
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, 1024)
    # TRL's own packing of the unpacked split (what packed mode did before bioqwen.train.bins).
    args = dataclasses.replace(ours.args, packing=True, packing_strategy="bfd", max_length=1024)
    trl = build_trainer(ours.model, tokenizer, data.train, None, args)
    assert len(ours.train_dataset) < len(data.train)
    assert trl.train_dataset[:] == ours.train_dataset[:]
