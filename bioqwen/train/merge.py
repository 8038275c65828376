"""Merge a LoRA adapter into its base and save a complete model directory.

QLoRA trains against a 4-bit copy of the base, but the adapter is merged into the original
unquantized weights (loaded here in fp32, saved in the base's own dtype): merging into
dequantized 4-bit weights would bake the quantization error into every later stage.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from bioqwen.models import chat_generation_config, quiet_loading
from bioqwen.runs import ADAPTER_DIR, MERGED_DIR, atomic_directory

log = logging.getLogger("bioqwen.train")


def stored_dtype(config: Any) -> torch.dtype:
    """The dtype a model config says its weights are stored in (fp32 when it says none)."""
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def merge_adapter(
    base_source: str,
    adapter_dir: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """Load the unquantized base in fp32, apply the adapter and fold it into the weights."""
    from peft import PeftModel

    # Read before loading: a model loaded in fp32 reports fp32 as its dtype, and a bf16 base
    # (every Qwen release) would be saved at twice its size.
    target_dtype = stored_dtype(
        AutoConfig.from_pretrained(base_source, trust_remote_code=trust_remote_code)
    )
    with quiet_loading():
        base = AutoModelForCausalLM.from_pretrained(
            base_source, dtype=torch.float32, trust_remote_code=trust_remote_code
        )
        rows = int(base.get_input_embeddings().weight.shape[0])  # type: ignore[index]
        if len(tokenizer) > rows:
            base.resize_token_embeddings(len(tokenizer))
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    return merged.to(target_dtype)


def save_model_dir(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: str | Path
) -> Path:
    """Write model (safetensors), tokenizer and a ChatML generation config, atomically."""
    model.config.use_cache = True  # inference default for whoever loads it next
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = chat_generation_config(tokenizer, model.generation_config)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # batched generation pads on the left
    try:
        with atomic_directory(target) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    finally:
        tokenizer.padding_side = side
    return Path(target)


def merge_to_dir(
    base_source: str,
    adapter_dir: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    target: str | Path,
    trust_remote_code: bool = False,
) -> Path:
    """Merge adapter into the unquantized base and save the full model at target."""
    log.info("merging %s into %s -> %s", adapter_dir, base_source, target)
    model = merge_adapter(base_source, adapter_dir, tokenizer, trust_remote_code)
    path = save_model_dir(model, tokenizer, target)
    del model
    return path


def save_adapter(model: Any, tokenizer: PreTrainedTokenizerBase, target: str | Path) -> Path:
    """Save the trained adapter (or, for full fine-tuning, the whole model) with its tokenizer."""
    with atomic_directory(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if hasattr(model, "generation_config"):
            chat_generation_config(tokenizer, model.generation_config).save_pretrained(tmp)
    return Path(target)


def save_trained(
    trainer: Any, tokenizer: PreTrainedTokenizerBase, run_dir: Path, full: bool, is_main: bool
) -> None:
    """Rank 0 writes the trained adapter (or, full fine-tuning, the whole model, as merged)."""
    trainer.accelerator.wait_for_everyone()
    if not is_main:
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    if full:
        save_model_dir(model, tokenizer, run_dir / MERGED_DIR)
    else:
        save_adapter(model, tokenizer, run_dir / ADAPTER_DIR)


def free_memory() -> None:
    """Return the memory of dropped models (the trainer's) before a merge loads another."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
