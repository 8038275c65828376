"""GGUF quantization with llama.cpp's own quantizer (through llama-cpp-python).

Q4_K_M quantizes in blocks of 256 values: llama.cpp falls back to another type (Q5_0, Q8_0)
for a matrix whose rows are not a multiple of 256, as in the tiny model, and reports it in its
log; the file is then mostly the fallback type. Q4_0 and Q8_0 use blocks of 32.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from bioqwen.errors import BioqwenError
from bioqwen.export.gguf import require

# export quant name -> llama.cpp file type (llama.h `LLAMA_FTYPE_*`).
FTYPES = {
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
}
QUANTS = tuple(FTYPES)


def check_quant(name: str) -> str:
    """The quant name if supported, else a user error listing the supported ones."""
    if name not in FTYPES:
        raise BioqwenError(f"quant={name!r}: expected one of {', '.join(QUANTS)}")
    return name


def quantize(source: Path, target: Path, quant: str, threads: int = 0) -> None:
    """Quantize an F16 GGUF file into `target` with llama.cpp (`llama_model_quantize`)."""
    llama_cpp = require("llama_cpp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[check_quant(quant)])
    params.nthread = threads  # 0: llama.cpp uses every hardware thread
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0 or not target.is_file():
        raise BioqwenError(f"llama.cpp could not quantize {source} to {quant} (status {status})")
