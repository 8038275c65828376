"""Evaluate a quantized model (paper Table 3's INT4 rows), and every row's size and precision.

`model.quantization`:
- `none`: the model as stored (bf16/fp32 rows);
- `nf4`: bitsandbytes 4-bit NF4 with double quantization, quantized on load (CPU or CUDA);
- `gguf-<f16|q8_0|q4_0|q4_k_m>`: the merged model converted to GGUF (bioqwen.export, cached by
  the content hash of the model directory) and generated with llama.cpp through
  llama-cpp-python. Prompts are tokenized and responses decoded with the model's HF tokenizer,
  so a GGUF row differs from the unquantized row by its weights only.

Quantized rows need a merged model (a training run directory with merged/, or a model
directory): an adapter would be merged into a quantized base, which is not the exported model.
`model_facts` gives every row `model/size_gb` (bioqwen.export.sizes: bytes of the weight files
a user must download, 10^9; an NF4 row is measured on its serialized 4-bit checkpoint),
`model/precision` and `model/quantization`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from bioqwen.config import ModelQuantization
from bioqwen.errors import BioqwenError
from bioqwen.eval.backends import GgufBackend
from bioqwen.export import gguf, sizes
from bioqwen.export.quantize import quantize
from bioqwen.runs import MERGED_DIR, cache_root, cached_directory, file_hash

QUANTIZATIONS = tuple(name.value for name in ModelQuantization)
# llama.cpp context: the paper's prompts are cut at 1,024 tokens and answers at 512-1,024.
GGUF_CONTEXT = 4096


def quantization_of(model_cfg: Mapping[str, Any]) -> str:
    """The configured model.quantization, checked."""
    name = str(model_cfg.get("quantization") or "none")
    if name not in QUANTIZATIONS:
        raise BioqwenError(
            f"model.quantization={name!r}: expected one of {', '.join(QUANTIZATIONS)}"
        )
    return name


def check(model_cfg: Mapping[str, Any], source: str, backend: str) -> None:
    """Fail before a run opens on a quantization that cannot run here or on this source."""
    name = quantization_of(model_cfg)
    if name == "none":
        return
    if backend != "hf":
        raise BioqwenError(f"model.quantization={name} runs with generation.backend=hf only")
    if not (Path(source) / "config.json").exists():
        raise BioqwenError(
            f"model.quantization={name}: {source} is not a merged model directory "
            f"(give model.path=<training run dir with {MERGED_DIR}/> or a merged model dir)"
        )
    if name != "nf4":  # bitsandbytes (nf4) is a core dependency; GGUF needs the deploy extra
        gguf.check_model_dir(Path(source))
        gguf.require("gguf")
        gguf.require("llama_cpp")


def load(
    model_cfg: Mapping[str, Any], source: str, device: str, tokenizer: PreTrainedTokenizerBase
) -> Any:
    """The quantized model for `generate.generate` (a HF model for nf4, a GgufBackend for gguf)."""
    name = quantization_of(model_cfg)
    if name == "nf4":
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        compute = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model = AutoModelForCausalLM.from_pretrained(
            source,
            quantization_config=BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute,
            ),
            dtype=compute,
            device_map={"": device} if device.startswith("cuda") else None,
        )
        return model.eval()
    return GgufBackend(gguf_file(Path(source), name.removeprefix("gguf-")), tokenizer, GGUF_CONTEXT)


def gguf_file(model_dir: Path, quant: str) -> Path:
    """The model as a GGUF file of type `quant`, converted once and cached by content hash."""
    target = cache_root() / "gguf" / f"{model_dir.name}-{file_hash(model_dir)}-{quant}"
    with cached_directory(target) as tmp:
        if tmp is not None:
            f16 = tmp / "model-f16.gguf"
            gguf.write_f16(model_dir, f16)
            if quant != "f16":
                quantize(f16, tmp / f"model-{quant}.gguf", quant)
                f16.unlink()
    return target / f"model-{quant}.gguf"


def model_facts(model_cfg: Mapping[str, Any], source: str, model: Any) -> dict[str, Any]:
    """`model/size_gb`, `model/precision`, `model/quantization` of an evaluation row."""
    name = quantization_of(model_cfg)
    if isinstance(model, GgufBackend):
        files = [model.path]
        precision = sizes.QUANT_PRECISION[name]
    elif name == "nf4":
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            size = sizes.size_gb(sizes.weight_files(tmp))
        return {"model/size_gb": size, "model/precision": "int4", "model/quantization": name}
    else:
        files = _downloaded_weights(source)
        precision = sizes.stored_precision(files)
    return {
        "model/size_gb": sizes.size_gb(files),
        "model/precision": precision,
        "model/quantization": name,
    }


def _downloaded_weights(source: str) -> list[Path]:
    """Weight files behind a model dir, hub id (local cache) or adapter (+ its base's)."""
    path = Path(source)
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(source, local_files_only=True))
    files = sizes.weight_files(path)
    adapter = path / "adapter_config.json"
    if adapter.exists() and not (path / "config.json").exists():
        import json

        base = json.loads(adapter.read_text(encoding="utf-8"))["base_model_name_or_path"]
        files += _downloaded_weights(str(base))
    return files
