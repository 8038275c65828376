"""Model size and precision, defined once for every row of every table.

size (GB) = bytes of the weight files a user must download to run the model, / 10^9:
the `*.safetensors` of a model directory (an adapter directory adds its base's), or the
`.gguf` file. Tokenizer and config files are left out (kilobytes to a few MB, the same for
every precision). Precision is what the paper's Table 3 writes: the dtype the weights are
stored in (`bf16`, `fp32`, `fp16`), or `int8` / `int4` for quantized weights.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError

GB = 10**9
# Stored dtype (safetensors header) -> the paper's precision label.
DTYPE_LABELS = {"F32": "fp32", "BF16": "bf16", "F16": "fp16", "I8": "int8", "U8": "int8"}
# Quantization names (model.quantization, export quant) -> precision label.
QUANT_PRECISION = {
    "nf4": "int4",
    "gguf-f16": "fp16",
    "gguf-q8_0": "int8",
    "gguf-q4_0": "int4",
    "gguf-q4_k_m": "int4",
}


def weight_files(path: str | Path) -> list[Path]:
    """The weight files a user downloads for a model directory or a single weight file."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.safetensors") if p.is_file())


def size_gb(files: list[Path]) -> float:
    """Total size of weight files in GB (10^9 bytes)."""
    return sum(f.stat().st_size for f in files) / GB


def safetensors_header(file: Path) -> dict[str, dict[str, Any]]:
    """The tensor table of a safetensors file; a truncated or corrupt file is a user error."""
    size = file.stat().st_size
    try:
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(handle.read(length))
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise BioqwenError(f"{file}: truncated or corrupt safetensors file ({err})") from err
    tensors: dict[str, dict[str, Any]] = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    if 8 + length + end != size:
        raise BioqwenError(
            f"{file}: truncated or corrupt ({size} bytes on disk, the header describes "
            f"{8 + length + end}); copy or save the model again"
        )
    return tensors


def stored_precision(files: list[Path]) -> str:
    """The paper's precision label for the dtype holding most of the weights' bytes."""
    share: Counter[str] = Counter()
    for file in files:
        for info in safetensors_header(file).values():
            first, last = info["data_offsets"]
            share[str(info["dtype"])] += int(last) - int(first)
    if not share:
        raise BioqwenError(f"no weights in {', '.join(map(str, files)) or 'the model directory'}")
    dtype = share.most_common(1)[0][0]
    return DTYPE_LABELS.get(dtype, dtype.lower())
