"""Load a model config for generation: a transformers model (full, merged or adapter), a vLLM
engine or a quantized row, with its left-padding tokenizer.

Where the weights lie is bioqwen.models' answer (`resolve_model`); how a batch is generated
is the backend's (bioqwen.eval.backends). This module joins the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase

from bioqwen.errors import BioqwenError
from bioqwen.eval import backends, quantized
from bioqwen.models import is_adapter_dir, quiet_loading, resolve_model, tokenizer_for


def pick_device(device: str) -> str:
    """`auto` -> cuda when available, else cpu; anything else as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _dtype(name: str, device: str) -> Any:
    if name in ("auto", "None", ""):
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def load_for_generation(
    model_cfg: Mapping[str, Any], device: str = "auto", backend: str = "hf"
) -> tuple[Any, PreTrainedTokenizerBase]:
    """Load a causal LM (full, merged or adapter) and its left-padding tokenizer, in eval mode.

    backend=vllm returns a `backends.VllmBackend` instead (GPU; vLLM installed; full or merged
    models only), a GGUF quantization a `backends.GgufBackend`.
    """
    source = resolve_model(model_cfg, adapters=True)
    backends.check(backend, source)
    if quantized.quantization_of(model_cfg) != "none":  # INT4/INT8 rows (paper Table 3)
        quantized.check(model_cfg, source, backend)
        tokenizer = tokenizer_for(model_cfg, source)
        return quantized.load(model_cfg, source, pick_device(device), tokenizer), tokenizer
    if backend == "vllm":
        engine = backends.VllmBackend(
            source, str(model_cfg["torch_dtype"]), bool(model_cfg["trust_remote_code"])
        )
        return engine, tokenizer_for(model_cfg, source)
    device = pick_device(device)
    kwargs: dict[str, Any] = {
        "dtype": _dtype(str(model_cfg["torch_dtype"]), device),
        "trust_remote_code": bool(model_cfg["trust_remote_code"]),
    }
    attn = str(model_cfg["attn_implementation"])
    if attn != "auto":
        kwargs["attn_implementation"] = attn
    try:
        with quiet_loading():
            if is_adapter_dir(source):
                from peft import AutoPeftModelForCausalLM

                model = AutoPeftModelForCausalLM.from_pretrained(source, **kwargs)
            else:
                model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as err:
        raise BioqwenError(f"model {source!r} could not be loaded: {err}") from err
    tokenizer = tokenizer_for(model_cfg, source)
    if tokenizer.pad_token_id >= model.get_input_embeddings().weight.shape[0]:
        # A pad token added for a baseline without one (Llama-3.2, SmolLM2) has no embedding.
        # Generation masks left padding and cuts responses at the first end token, so the end
        # token can pad instead of growing the model with an untrained, predictable row.
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            model.resize_token_embeddings(len(tokenizer))
    model.to(device)
    model.eval()
    return model, tokenizer
