"""The training benchmarks run their real code paths on CPU (the GPU one via --cpu-smoke)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.train.conftest import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_gpu_benchmark_cpu_smoke_times_every_batching(tmp_path: Path, capsys) -> None:
    bench = _load("gpu_train_throughput")
    out = tmp_path / "results.json"
    assert bench.main(["--cpu-smoke", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    plans = [("padding", 4), ("padding_free", 4), ("padding_free", 8)]
    assert [(r["attention"], r["batching"], r["samples_per_step"]) for r in rows] == [
        (attention, *plan) for attention in ("sdpa", "eager") for plan in plans
    ]
    assert all(r["tokens_per_s"] > 0 and r["mfu"] > 0 for r in rows)
    assert rows[0]["padding_fraction"] > 0 == rows[1]["padding_fraction"]
    out = capsys.readouterr().out
    assert "tok/s" in out
    # One ratio line per shape.
    assert len(re.findall(r"^\S+: padding-free / padding \d+\.\d+x tokens/s", out, re.M)) == 1


# What a GPU machine with only torch, transformers and peft sees.
BLOCKED = "import sys; sys.modules['bitsandbytes'] = None; sys.argv = ['bench', *sys.argv[1:]]; "


def _without_bitsandbytes(*args: str, cuda: bool = False) -> subprocess.CompletedProcess[str]:
    fake_cuda = "import torch; torch.cuda.is_available = lambda: True; " if cuda else ""
    script = ROOT / "benchmarks" / "gpu_train_throughput.py"
    code = (
        BLOCKED + fake_cuda + f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_gpu_benchmark_cpu_smoke_runs_without_bitsandbytes(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = _without_bitsandbytes("--cpu-smoke", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bf16 LoRA" in done.stdout and json.loads(out.read_text())


def test_gpu_benchmark_without_bitsandbytes_says_to_use_no_quant() -> None:
    done = _without_bitsandbytes(cuda=True)
    assert done.returncode == 2
    assert "bitsandbytes is not installed" in done.stderr and "--no-quant" in done.stderr


def test_gpu_benchmark_skips_cleanly_without_cuda(monkeypatch, capsys) -> None:
    bench = _load("gpu_train_throughput")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    assert "skipped" in capsys.readouterr().out


def test_gpu_benchmark_shapes_are_the_published_ones() -> None:
    shapes = _load("gpu_train_throughput").SHAPES
    assert shapes["Qwen2-0.5B"]["hidden_size"] == 896
    assert shapes["Qwen2.5-1.5B"]["num_hidden_layers"] == 28
    assert shapes["Qwen1.5-1.8B"]["num_key_value_heads"] == 16
    assert not shapes["Qwen1.5-1.8B"]["tie_word_embeddings"]


@pytest.mark.slow
def test_packing_benchmark_prints_the_ratio(capsys) -> None:
    assert _load("train_packing").main(["--steps", "2", "--rounds", "1", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "padding-free / padding" in out and "padding_free" in out
