"""llama.cpp quantization names, files, and the error when the deploy extra is missing."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.export import gguf, quantize
from tests.export.conftest import needs


def test_supported_quants_and_a_clear_error_for_others() -> None:
    assert quantize.QUANTS == ("f16", "q8_0", "q4_0", "q4_k_m")
    assert quantize.check_quant("q4_k_m") == "q4_k_m"
    with pytest.raises(BioqwenError, match=re.escape("quant='Q4_0': expected one of f16")):
        quantize.check_quant("Q4_0")


def test_missing_deploy_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import now raises ImportError
    with pytest.raises(
        BioqwenError, match=re.escape("need the llama_cpp package: install the deploy extra")
    ):
        gguf.require("llama_cpp")


@needs("llama_cpp")
@needs("gguf")
def test_each_quant_makes_a_smaller_file_llama_cpp_loads(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    f16 = tmp_path / "f16.gguf"
    gguf.write_f16(tiny_model_dir, f16)
    sizes = {}
    for quant in ("q8_0", "q4_0", "q4_k_m"):
        out = tmp_path / f"{quant}.gguf"
        quantize.quantize(f16, out, quant)
        llm = gguf.load(out)
        assert llm.n_vocab() == 1024
        llm.close()
        sizes[quant] = out.stat().st_size
    assert sizes["q4_0"] < sizes["q8_0"] < f16.stat().st_size


@needs("llama_cpp")
def test_truncated_gguf_is_a_user_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    broken = tmp_path / "model.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 40)
    with pytest.raises(BioqwenError, match="cannot load this GGUF file"):
        gguf.load(broken)
    with pytest.raises(BioqwenError, match="GGUF file not found"):
        gguf.load(tmp_path / "missing.gguf")


@needs("llama_cpp")
@needs("gguf")
def test_llama_cpp_prints_no_tensor_dump_and_stays_within_the_trained_context(
    tiny_model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("llama-cpp-python").setLevel(logging.NOTSET)  # as in a fresh process
    f16 = tmp_path / "f16.gguf"
    gguf.write_f16(tiny_model_dir, f16)
    capfd.readouterr()
    quantize.quantize(f16, tmp_path / "q4_0.gguf", "q4_0")
    assert gguf.trained_context(f16) == 2048  # the tiny model's max_position_embeddings
    llm = gguf.load(tmp_path / "q4_0.gguf", n_ctx=4096)
    assert llm.n_ctx() == 2048
    llm.close()
    printed = capfd.readouterr()
    assert "llama_model_loader" not in printed.err and "context overflow" not in printed.err
