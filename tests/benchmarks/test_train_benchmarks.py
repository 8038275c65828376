"""The training benchmarks run their real code paths on CPU (the GPU one via --cpu-smoke)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tests.benchmarks import load
from tests.train.conftest import ROOT


def test_gpu_benchmark_cpu_smoke_times_every_batching(tmp_path: Path, capsys) -> None:
    bench = load("gpu_train_throughput")
    out = tmp_path / "results.json"
    assert bench.main(["--cpu-smoke", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    plans = [("padding", 4), ("padding_free", 4), ("padding_free", 8)]
    assert [(r["attention"], r["batching"], r["samples_per_step"]) for r in rows] == [
        (attention, *plan) for attention in ("sdpa_segmented", "eager") for plan in plans
    ]
    assert all(r["tokens_per_s"] > 0 and r["mfu"] > 0 for r in rows)
    assert rows[0]["padding_fraction"] > 0 == rows[1]["padding_fraction"]
    assert "tok/s" in capsys.readouterr().out


def test_gpu_benchmark_skips_cleanly_without_cuda(monkeypatch, capsys) -> None:
    bench = load("gpu_train_throughput")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    assert "skipped" in capsys.readouterr().out


def test_gpu_benchmark_shapes_are_the_published_ones() -> None:
    shapes = load("gpu_train_throughput").SHAPES
    assert shapes["Qwen2-0.5B"]["hidden_size"] == 896
    assert shapes["Qwen2.5-1.5B"]["num_hidden_layers"] == 28
    assert shapes["Qwen1.5-1.8B"]["num_key_value_heads"] == 16
    assert not shapes["Qwen1.5-1.8B"]["tie_word_embeddings"]


@pytest.mark.slow
def test_packing_benchmark_prints_the_ratio(capsys) -> None:
    argv = ["--shapes", "tiny", "--steps", "2", "--rounds", "1", "--batch", "4"]
    assert load("train_packing").main(argv) == 0
    out = capsys.readouterr().out
    assert "tiny: padding-free / padding" in out and "padding_free" in out


@pytest.mark.slow
def test_vocab_benchmark_prints_both_paths_and_the_ratio(capsys, monkeypatch) -> None:
    # Its measuring processes are spawned: they import the script by name from benchmarks/.
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'benchmarks'}:{ROOT}")
    bench = load("train_vocab")
    assert bench.main(["--steps", "1", "--batch", "1", "--length", "48", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "full logits" in out and "trl fused" in out
    assert re.search(r"ours / full logits: \d+\.\d+x tokens/s, \d+\.\d+x peak memory", out)
