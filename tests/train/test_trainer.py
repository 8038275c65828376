"""Batching equivalence (paper padding vs padding-free), throughput counting, schedule settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bioqwen.errors import BioqwenError
from bioqwen.models import tokenizer_for
from bioqwen.train.attention import SEGMENTED_SDPA
from bioqwen.train.callbacks import SAMPLES, TOKENS_ALL, TOKENS_REAL, batch_counts
from bioqwen.train.data import load_prepared, tokenize_for_training
from bioqwen.train.model import load_base
from bioqwen.train.trainer import build_trainer, check_stage, sft_config
from tests.train.conftest import compose_train


def _trainer(tmp_path: Path, model_dir: Path, mix_dir: Path, batching: str, attn: str = "sdpa"):
    overrides = [f"stage.batching={batching}", f"model.attn_implementation={attn}"]
    cfg = compose_train(tmp_path, "model=tiny", "method=full", *overrides)
    stage, method = dict(cfg.stage), dict(cfg.method)
    tokenizer = tokenizer_for(cfg.model, str(model_dir))
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, 1024)
    model = load_base(str(model_dir), dict(cfg.model), method, tokenizer, "fp32")
    args = sft_config(stage, method, tmp_path / batching, 42, "fp32", has_eval=False)
    return build_trainer(model, tokenizer, data.train, None, args)


@pytest.mark.parametrize("attn", ["sdpa", SEGMENTED_SDPA])
def test_padding_free_batch_gives_the_same_loss_as_padding(tiny_model_dir, mix_dir, tmp_path, attn):
    padded_trainer = _trainer(tmp_path, tiny_model_dir, mix_dir, "pad", attn)
    flat_trainer = _trainer(tmp_path, tiny_model_dir, mix_dir, "padding_free", attn)
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


def test_warmup_and_steps_follow_the_stage(tmp_path):
    cfg = compose_train(tmp_path, "model=tiny")
    args = sft_config(dict(cfg.stage), dict(cfg.method), tmp_path, 42, "fp32", has_eval=True)
    assert args.learning_rate == 2e-4 and args.lr_scheduler_type == "linear"
    assert args.per_device_train_batch_size == 4 and args.gradient_accumulation_steps == 4
    assert args.max_grad_norm == 0.3 and args.num_train_epochs == 3
    assert args.get_warmup_steps(100) == 10
    assert args.eval_strategy == "no"  # eval_steps=0: only the final evaluation
    assert args.max_length == cfg.data.max_tokens == 1024  # one token limit for data and model
    assert args.padding_free is False and args.packing is False


def test_stage2_and_recipes_override_the_paper_defaults(tmp_path):
    stage2 = compose_train(tmp_path, "model=tiny", "stage=stage2").stage
    assert stage2.epochs == 5 and stage2.weight_decay == 1e-5 and stage2.requires_init
    notebook = compose_train(
        tmp_path, "model=tiny", "stage=stage2", "stage/recipe=authors_notebook"
    ).stage
    assert notebook.lr_scheduler == "cosine" and notebook.epochs == 3
    assert (notebook.per_device_batch_size, notebook.gradient_accumulation_steps) == (8, 2)
    script = compose_train(tmp_path, "model=tiny", "stage/recipe=authors_script").stage
    assert script.lr_scheduler == "constant_with_warmup" and script.precision == "fp16"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("batching", "zigzag", "stage.batching"),
        ("init_mode", "fork", "stage.init_mode"),
        ("warmup_ratio", 1.5, "warmup_ratio"),
        ("per_device_batch_size", 0, "per_device_batch_size"),
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
