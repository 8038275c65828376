"""What a silent shape bug would break in a smoke-paper experiment's outputs, checked per step."""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import PeftModel
from safetensors import safe_open
from transformers import AutoModelForCausalLM

PROBE = "<|im_start|>user\n高血压患者 fever and cough?<|im_end|>\n<|im_start|>assistant\n"


@dataclass
class MergeCheck:
    """Logits of a merged model beside its parent with and without the adapter."""

    merged_vs_adapter: float  # max |merged - (parent + adapter)|
    adapter_effect: float  # max |(parent + adapter) - parent|: what the merge must carry


def probe_ids(model_dir: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return torch.tensor([tokenizer(PROBE, add_special_tokens=False)["input_ids"]])


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(ids).logits[0].float()


def check_merge(parent: Path, adapter: Path, merged: Path, tied: bool) -> MergeCheck:
    """Compare the merged directory's logits with the parent + adapter in fp32, one at a time."""
    ids = probe_ids(merged)
    base = AutoModelForCausalLM.from_pretrained(parent, dtype=torch.float32).eval()
    lora = PeftModel.from_pretrained(base, str(adapter)).eval()
    with_adapter = _logits(lora, ids)
    with lora.disable_adapter():
        without = _logits(lora, ids)
    del base, lora  # one fp32 model in memory at a time (2.9 GB for the 1.8B shape)
    gc.collect()
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    assert shares_embeddings(model) is tied, f"{merged}: tied={tied} expected after loading"
    got = _logits(model, ids)
    del model
    gc.collect()
    return MergeCheck(
        float((got - with_adapter).abs().max()), float((with_adapter - without).abs().max())
    )


def shares_embeddings(model: torch.nn.Module) -> bool:
    """Whether a loaded model's output layer is its input embedding matrix."""
    out, emb = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    return bool(out.data_ptr() == emb.data_ptr())


def stored_tensors(model_dir: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape) of a model directory's safetensors, without loading data."""
    out = {}
    for file in sorted(model_dir.glob("*.safetensors")):
        with safe_open(file, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118  (safe_open is not iterable)
                piece = handle.get_slice(key)
                out[key] = (piece.get_dtype(), tuple(piece.get_shape()))
    return out


def read_config(model_dir: Path) -> dict:
    return json.loads((model_dir / "config.json").read_text())
