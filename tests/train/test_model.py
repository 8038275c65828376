"""Model loading for training: attention backend, precision, 4-bit QLoRA, LoRA placement."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from bioqwen.errors import BioqwenError
from bioqwen.models import tokenizer_for
from bioqwen.train import model as train_model
from bioqwen.train.attention import SEGMENTED_SDPA
from bioqwen.train.model import (
    add_adapter,
    attention_backend,
    count_parameters,
    load_base,
    resolve_precision,
)
from tests.train.conftest import compose_train

LINEARS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.parametrize(
    ("has_flash", "has_cuda", "expected"),
    [
        (True, True, "flash_attention_2"),
        (True, False, SEGMENTED_SDPA),
        (False, True, SEGMENTED_SDPA),
    ],
)
def test_auto_attention_prefers_flash_only_on_cuda(monkeypatch, has_flash, has_cuda, expected):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        train_model.importlib.util,
        "find_spec",
        lambda name: object() if name == "flash_attn" and has_flash else real(name),
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    assert attention_backend("auto") == expected
    assert attention_backend("eager") == "eager"


def test_cpu_mixed_precision_is_a_user_error():
    # An unknown backend or precision is refused at composition (tests/test_config_schemas.py).
    if not torch.cuda.is_available():
        assert resolve_precision("auto") == "fp32"
        with pytest.raises(BioqwenError, match="CUDA"):
            resolve_precision("bf16")


def test_qlora_is_4bit_nf4_with_paper_lora_on_every_linear_but_the_head(tiny_model_dir, tmp_path):
    import bitsandbytes as bnb

    cfg = compose_train(tmp_path, "model=tiny", "method=qlora")
    tokenizer = tokenizer_for(cfg.model, str(tiny_model_dir))
    method = dict(cfg.method)
    base = load_base(str(tiny_model_dir), dict(cfg.model), method, tokenizer, "fp32")
    quant = base.config.quantization_config
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4"
    assert quant.bnb_4bit_use_double_quant
    assert quant.bnb_4bit_compute_dtype == torch.float32  # CPU: no bf16 compute
    assert not base.config.use_cache
    four_bit = {
        n.rsplit(".", 1)[-1] for n, m in base.named_modules() if isinstance(m, bnb.nn.Linear4bit)
    }
    assert four_bit == LINEARS
    # Pad is a token of its own; generation stops at <|im_end|>.
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert base.config.pad_token_id == tokenizer.pad_token_id != im_end
    assert im_end in base.generation_config.eos_token_id

    peft_model = add_adapter(base, method)
    lora_cfg = peft_model.peft_config["default"]
    assert (lora_cfg.r, lora_cfg.lora_alpha, lora_cfg.lora_dropout) == (64, 16, 0.05)
    wrapped = {
        n.split(".lora_A")[0].rsplit(".", 1)[-1]
        for n, _ in peft_model.named_parameters()
        if "lora_A" in n
    }
    assert wrapped == LINEARS
    assert not any("lm_head" in n and "lora" in n for n, _ in peft_model.named_parameters())
    trainable, total = count_parameters(peft_model)
    assert trainable == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert 0 < trainable < total


def test_full_fine_tuning_trains_every_weight_in_fp32(tiny_model_dir, tmp_path):
    cfg = compose_train(tmp_path, "model=tiny", "method=full")
    tokenizer = tokenizer_for(cfg.model, str(tiny_model_dir))
    base = load_base(str(tiny_model_dir), dict(cfg.model), dict(cfg.method), tokenizer, "fp32")
    trainable, total = count_parameters(base)
    assert trainable == total
    assert all(p.dtype == torch.float32 for p in base.parameters())
