"""INT4 evaluation rows: model.quantization=nf4 | gguf-*, and size/precision on every row."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.eval import generate, loading, quantized
from bioqwen.jobs import evaluate
from bioqwen.jobs.common import execute, plain
from tests.conftest import compose_config
from tests.export.conftest import needs

SMALL = ("benchmark=ncbi", "benchmark.limit=2", "generation.max_new_tokens=6")


def _evaluate(tmp_path: Path, model_dir: Path, quantization: str) -> dict:
    cfg = compose_config(
        "evaluate", f"model.path={model_dir}", f"model.quantization={quantization}", *SMALL
    )
    return execute(evaluate.run, cfg, tmp_path / quantization)


def _model_cfg(model_dir: Path, quantization: str) -> dict[str, Any]:
    cfg = compose_config(
        "evaluate", f"model.path={model_dir}", f"model.quantization={quantization}"
    )
    return plain(cfg.model)


def test_unquantized_row_reports_download_size_and_stored_precision(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    metrics = _evaluate(tmp_path, tiny_model_dir, "none")
    assert metrics["model/size_gb"] == (tiny_model_dir / "model.safetensors").stat().st_size / 1e9
    assert metrics["model/precision"] == "fp32" and metrics["model/quantization"] == "none"
    saved = json.loads((tmp_path / "none" / "metrics.json").read_text())
    assert saved["model/size_gb"] == metrics["model/size_gb"]


def test_nf4_row_generates_and_measures_its_4bit_checkpoint(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    model, _ = loading.load_for_generation(_model_cfg(tiny_model_dir, "nf4"), "cpu")
    assert sum(type(m).__name__ == "Linear4bit" for m in model.modules()) == 14  # 7 per layer
    metrics = _evaluate(tmp_path, tiny_model_dir, "nf4")
    assert metrics["model/precision"] == "int4" and metrics["n_documents"] == 2
    fp32 = (tiny_model_dir / "model.safetensors").stat().st_size / 1e9
    assert 0 < metrics["model/size_gb"] < fp32


@needs("llama_cpp")
@needs("gguf")
def test_gguf_row_generates_through_llama_cpp(tmp_path: Path, tiny_model_dir: Path) -> None:
    metrics = _evaluate(tmp_path, tiny_model_dir, "gguf-q4_0")
    path = quantized.gguf_file(tiny_model_dir, "q4_0")  # cached: the file evaluated
    assert metrics["model/size_gb"] == path.stat().st_size / 1e9
    assert metrics["model/precision"] == "int4" and metrics["n_documents"] == 2
    records = (tmp_path / "gguf-q4_0" / "predictions.jsonl").read_text().splitlines()
    assert all(json.loads(r)["new_tokens"] <= 6 for r in records)


@needs("llama_cpp")
@needs("gguf")
def test_gguf_f16_generates_what_the_hf_model_generates(tiny_model_dir: Path) -> None:
    prompts = ["<|im_start|>user\nWhat is asthma?<|im_end|>\n<|im_start|>assistant\n"]
    settings = {**plain(compose_config("evaluate").generation), "max_new_tokens": 8}
    outputs = {}
    for quantization in ("none", "gguf-f16"):
        model, tok = loading.load_for_generation(_model_cfg(tiny_model_dir, quantization), "cpu")
        outputs[quantization] = [g.text for g in generate.generate(model, tok, prompts, settings)]
    assert outputs["gguf-f16"] == outputs["none"]


def test_unknown_or_unsupported_quantization_fails_before_a_run(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    with pytest.raises(
        BioqwenError, match=re.escape("model.quantization='int3': expected one of none, nf4")
    ):
        quantized.quantization_of({"quantization": "int3"})  # a library caller's mapping
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(BioqwenError, match="not a merged model directory"):
        quantized.check({"quantization": "nf4"}, str(adapter), "hf")
    with pytest.raises(BioqwenError, match=r"generation\.backend=hf only"):
        quantized.check({"quantization": "nf4"}, str(tiny_model_dir), "vllm")
    assert not (tmp_path / "int3").exists()
