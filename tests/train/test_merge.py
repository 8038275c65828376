"""Merging: adapters fold into the unquantized base; the saved model stops at <|im_end|>."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from bioqwen.models import tokenizer_for
from bioqwen.train.merge import merge_to_dir, save_adapter
from bioqwen.train.model import load_base
from tests.conftest import ROOT, compose_config
from tests.train.conftest import compose_train

TINY = compose_config("train", "model=tiny").model


def _random_adapter(base, seed: int = 0):
    # init_lora_weights=False gives B != 0, so the merge has something to add.
    torch.manual_seed(seed)
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(base, config)


def test_merged_model_equals_base_plus_adapter(tiny_model_dir, tmp_path):
    tokenizer = tokenizer_for(TINY, str(tiny_model_dir))
    peft_model = _random_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir)).eval()
    adapter = save_adapter(peft_model, tokenizer, tmp_path / "adapter")
    merged_dir = merge_to_dir(str(tiny_model_dir), adapter, tokenizer, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    ids = torch.tensor([tokenizer("<|im_start|>user\nfever and cough<|im_end|>")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft_model(ids).logits, rtol=1e-4, atol=1e-4)
    gen = json.loads((merged_dir / "generation_config.json").read_text())
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in gen["eos_token_id"]
    assert gen["pad_token_id"] == tokenizer.pad_token_id
    assert (merged_dir / "tokenizer_config.json").exists()
    assert not list(merged_dir.glob("adapter_*"))


def test_qlora_adapter_merges_into_the_unquantized_weights(tiny_model_dir, tmp_path):
    cfg = compose_train(tmp_path, "model=tiny", "method=qlora")
    tokenizer = tokenizer_for(cfg.model, str(tiny_model_dir))
    four_bit = load_base(str(tiny_model_dir), dict(cfg.model), dict(cfg.method), tokenizer, "fp32")
    layer = four_bit.model.layers[0].self_attn.q_proj
    import bitsandbytes.functional as bnbf

    dequantized = bnbf.dequantize_4bit(layer.weight.data, layer.weight.quant_state).float()
    adapter = save_adapter(_random_adapter(four_bit), tokenizer, tmp_path / "adapter")
    merged = AutoModelForCausalLM.from_pretrained(
        merge_to_dir(str(tiny_model_dir), adapter, tokenizer, tmp_path / "merged")
    )
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter)
    delta = lora.base_model.model.model.layers[0].self_attn.q_proj.get_delta_weight("default")
    got = merged.model.layers[0].self_attn.q_proj.weight
    exact = original.model.layers[0].self_attn.q_proj.weight + delta
    torch.testing.assert_close(got, exact, rtol=1e-5, atol=1e-6)
    # Merging into the dequantized 4-bit weights would be off by the quantization error.
    assert (got - (dequantized + delta)).abs().max() > 1e-3


def test_a_bf16_base_is_merged_and_saved_in_bf16(tmp_path, monkeypatch):
    # Qwen releases are bf16; the merge loads the base in fp32 for exact sums, and must save
    # in the base's dtype again (not the fp32 it was loaded in: twice the size on disk).
    from safetensors import safe_open

    from bioqwen.models import resolve_model

    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path / "cache"))
    model_cfg = compose_config("train", "model=tiny", "model.architecture.dtype=bfloat16").model
    base_dir = resolve_model(model_cfg)
    tokenizer = tokenizer_for(model_cfg, base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft_model = _random_adapter(base).eval()
    adapter = save_adapter(peft_model, tokenizer, tmp_path / "adapter")
    merged_dir = merge_to_dir(base_dir, adapter, tokenizer, tmp_path / "merged")
    assert json.loads((merged_dir / "config.json").read_text())["dtype"] == "bfloat16"
    with safe_open(merged_dir / "model.safetensors", framework="pt") as handle:
        assert {handle.get_slice(k).get_dtype() for k in handle.keys()} == {"BF16"}  # noqa: SIM118
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    ids = torch.tensor([tokenizer("<|im_start|>user\nfever and cough<|im_end|>")["input_ids"]])
    with torch.no_grad():
        expected, got = peft_model(ids).logits, merged(ids).logits
        with peft_model.disable_adapter():
            without = peft_model(ids).logits
    # bf16 rounding of the merged weights only: far below what the adapter changes.
    assert (got - expected).abs().max() < 0.05 * (expected - without).abs().max()


def test_a_killed_merges_temporary_directory_is_removed_by_the_next(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    tokenizer = tokenizer_for(TINY, str(tiny_model_dir))
    peft_model = _random_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir))
    adapter = save_adapter(peft_model, tokenizer, run / "adapter")
    script = Path(__file__).with_name("kill_mid_merge.py")
    killed = subprocess.run(
        [sys.executable, str(script), str(tiny_model_dir), str(adapter), str(run / "merged")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (left,) = (p for p in run.iterdir() if p.is_dir() and p.name.startswith(".merged."))
    assert (left / "model.safetensors").exists() and not (run / "merged").exists()

    merge_to_dir(str(tiny_model_dir), adapter, tokenizer, run / "merged")
    assert sorted(p.name for p in run.iterdir()) == ["adapter", "merged"]  # no temporary, no lock
    assert (run / "merged" / "tokenizer_config.json").exists()
