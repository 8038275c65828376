"""Write a merged Qwen2-architecture model as an F16 GGUF file, and load GGUF files.

The file is written with `gguf` (the library llama.cpp's own `convert_hf_to_gguf.py` writes
with, the version llama-cpp-python 0.3.36 vendors), mirroring that converter for Qwen2: the
same tensor names (gguf's name map), hyperparameter keys, token types, merges and special
tokens. The converter itself is not used: it recognises a BPE tokenizer only by the hash of
its output on a probe text, so it refuses any vocabulary it has not seen (the tiny model's
1k BPE). Every `qwen2` model is tokenized by transformers' Qwen2Tokenizer, whose pre-tokenizer
is Qwen's split regex whatever tokenizer.json says, so llama.cpp's `qwen2` pre-tokenizer is
the right one for any vocabulary; `agreement.tokenization_matches` checks the result.

Qwen1.5, Qwen2 and Qwen2.5 all load as `Qwen2ForCausalLM`, so this covers every BioQwen base.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.export.sizes import safetensors_header, weight_files
from bioqwen.runs import MERGED_DIR

ARCHITECTURES = ("Qwen2ForCausalLM",)
DEPLOY_HINT = "install the deploy extra: pip install -e '.[deploy]' (make setup does)"


def require(module: str) -> Any:
    """Import an optional deploy dependency (gguf, llama_cpp), or fail with how to get it."""
    import importlib

    try:
        imported = importlib.import_module(module)
    except ImportError as err:
        raise BioqwenError(f"GGUF files need the {module} package: {DEPLOY_HINT}") from err
    if module == "gguf":  # its writer logs the file's byte order and layout at INFO
        logging.getLogger("gguf").setLevel(logging.WARNING)
    if module == "llama_cpp":
        # llama.cpp writes every tensor and metadata key of a file it loads or quantizes to
        # stderr (~60 lines for a 2-layer model) until a Llama(verbose=False) quiets it: only
        # its errors reach the terminal.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    return imported


def check_model_dir(path: Path) -> dict[str, Any]:
    """Validate a merged model directory (config, complete weights, tokenizer); its config."""
    config_file = path / "config.json"
    if not config_file.exists():
        if (path / "adapter_config.json").exists():
            raise BioqwenError(
                f"{path} holds a LoRA adapter without its base model; export a merged model "
                f"(train with merge=true, or give the training run directory with {MERGED_DIR}/)"
            )
        raise BioqwenError(f"{path}: no config.json (not a model directory)")
    try:
        config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BioqwenError(f"{config_file}:{err.lineno}: malformed JSON: {err.msg}") from err
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in ARCHITECTURES:
        raise BioqwenError(f"{config_file}: architecture {arch} cannot be exported (Qwen2 only)")
    files = weight_files(path)
    if not files:
        raise BioqwenError(f"{path}: no *.safetensors weights (the model directory is incomplete)")
    for file in files:
        safetensors_header(file)
    if not (path / "tokenizer.json").exists():
        raise BioqwenError(f"{path}: no tokenizer.json (save the tokenizer with the model)")
    return config


def _vocabulary(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int]]:
    """Tokens by id (padded to the embedding rows) and their GGUF token types."""
    gguf = require("gguf")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            # Spare embedding rows (Qwen pads its vocabulary to a multiple of 64/128).
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tokens.append(by_id[i])
        if i in added:
            types.append(
                gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED
            )
        else:
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def write_f16(model_dir: Path, out: Path, name: str | None = None) -> None:
    """Convert a merged Qwen2 model directory into an F16 GGUF file at `out`."""
    gguf = require("gguf")
    import numpy as np
    from safetensors import safe_open

    config = check_model_dir(model_dir)
    layers = int(config["num_hidden_layers"])
    rope = config.get("rope_parameters") or {}
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN2])
    writer.add_name(name or model_dir.name)
    writer.add_block_count(layers)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(
        int(config.get("num_key_value_heads") or config["num_attention_heads"])
    )
    writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    tokens, types = _vocabulary(model_dir, int(config["vocab_size"]))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # Merges, bos/eos/pad ids and the chat template, read as llama.cpp's converter reads them.
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    # Qwen tokenizers add no BOS; without this key llama.cpp would prepend one to every prompt.
    special.add_special_token.setdefault("bos", False)
    special.add_to_gguf(writer, quiet=True)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, layers)
    for file in weight_files(model_dir):
        with safe_open(file, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118  (safe_open is not iterable)
                target = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if target is None:
                    raise BioqwenError(f"{file}: tensor {key} has no GGUF name (not Qwen2?)")
                tensor = handle.get_tensor(key).float().numpy()
                # As llama.cpp's converter: matrices in F16, norms and biases in F32.
                writer.add_tensor(
                    target, tensor.astype(np.float16 if tensor.ndim > 1 else np.float32)
                )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# GGUF value types (gguf.GGUFValueType) of fixed width, as little-endian struct formats.
_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_FIXED |= {10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass
class Header:
    """A GGUF file's metadata and tensor table, read without its arrays' items or weights."""

    metadata: dict[str, Any]  # scalar and string values by key
    array_lengths: dict[str, int]  # array keys (tokenizer.ggml.tokens, ...) -> item count
    tensors: dict[str, tuple[int, ...]]  # name -> dimensions as GGUF lists them (fastest first)
    tensor_types: dict[str, int]  # name -> gguf.GGMLQuantizationType value


def read_header(path: Path) -> Header:
    """The header of a GGUF file (v2+), skipping array items: gguf.GGUFReader builds a numpy
    view per item, over a minute for a 151,936-token vocabulary and its merges."""
    file_size = path.stat().st_size
    with open(path, "rb") as handle:

        def take(fmt: str) -> Any:
            size = struct.calcsize(fmt)
            data = handle.read(size)
            if len(data) < size:
                raise ValueError(f"{path}: truncated GGUF header")
            return struct.unpack(fmt, data)[0]

        def text() -> str:
            length = take("<Q")
            if length > file_size - handle.tell():  # a corrupt length, not a 2^60-byte read
                raise ValueError(f"{path}: truncated GGUF header")
            return handle.read(length).decode("utf-8", errors="replace")

        if handle.read(4) != b"GGUF" or take("<I") < 2:
            raise ValueError(f"{path}: not a GGUF file of version 2 or later")
        header = Header({}, {}, {}, {})
        n_tensors, n_values = take("<Q"), take("<Q")
        for _ in range(n_values):
            key, kind = text(), take("<I")
            if kind == _ARRAY:
                item, count = take("<I"), take("<Q")
                header.array_lengths[key] = count
                if item == _STRING:
                    for _ in range(count):
                        handle.seek(take("<Q"), os.SEEK_CUR)
                elif item in _FIXED:
                    handle.seek(count * struct.calcsize(_FIXED[item]), os.SEEK_CUR)
                else:
                    raise ValueError(f"{path}: {key}: unsupported array item type {item}")
            elif kind == _STRING:
                header.metadata[key] = text()
            elif kind in _FIXED:
                header.metadata[key] = take(_FIXED[kind])
            else:
                raise ValueError(f"{path}: {key}: unknown value type {kind}")
        for _ in range(n_tensors):
            name = text()
            dims = tuple(take("<Q") for _ in range(take("<I")))
            header.tensors[name], header.tensor_types[name] = dims, take("<I")
            take("<Q")  # the tensor's data offset
    return header


def trained_context(path: Path) -> int | None:
    """The context length a GGUF file's metadata gives (`<architecture>.context_length`);
    None when it cannot be read (load() then lets llama.cpp name what is wrong)."""
    try:
        metadata = read_header(path).metadata
    except (ValueError, OSError):  # a truncated or foreign file
        return None
    length = metadata.get(f"{metadata.get('general.architecture')}.context_length")
    return int(length) if isinstance(length, int) else None


def load(path: Path, n_ctx: int = 512, threads: int | None = None) -> Any:
    """Load a GGUF file with llama-cpp-python; a file it cannot load is a user error."""
    llama_cpp = require("llama_cpp")
    if not path.is_file():
        raise BioqwenError(f"GGUF file not found: {path}")
    # No longer than the model was trained for (llama.cpp warns of overflow past it).
    n_ctx = min(n_ctx, trained_context(path) or n_ctx)
    try:
        llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads, seed=0, verbose=False
        )
    except (ValueError, RuntimeError, OSError) as err:
        raise BioqwenError(f"{path}: llama.cpp cannot load this GGUF file ({err})") from err
    # Close before interpreter teardown: llama-cpp-python's __del__ then finds its C library
    # half unloaded and prints a traceback.
    weakref.finalize(llm, llm.close)
    return llm
