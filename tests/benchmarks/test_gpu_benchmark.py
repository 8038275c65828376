"""The GPU benchmark runs without bitsandbytes, sets the model up as the trainer does, and its
runner installs carried wheels offline (all on CPU: --cpu-smoke and a stand-in interpreter)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = "import runpy, sys; sys.modules['bitsandbytes'] = None; sys.argv[0] = {path!r}; "
BLOCKED += "runpy.run_path({path!r}, run_name='__main__')"


@pytest.fixture
def bench(monkeypatch):
    """benchmarks/gpu_train_throughput.py imported as a module."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gpu_train_throughput

    return gpu_train_throughput


def test_cpu_smoke_without_bitsandbytes_says_so_and_times_bf16_lora(tmp_path) -> None:
    script = str(ROOT / "benchmarks" / "gpu_train_throughput.py")
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED.format(path=script), "--cpu-smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bitsandbytes is not installed" in done.stdout
    ratios = [line for line in done.stdout.splitlines() if "padding-free / padding" in line]
    assert [line.split(":")[0] for line in ratios] == [
        "tiny lora sdpa_segmented",
        "tiny lora eager",
    ]
    assert all("MFU" in line for line in ratios)


def test_qlora_is_cast_as_the_trainer_casts_it_and_lora_needs_no_bitsandbytes(bench) -> None:
    import bitsandbytes as bnb

    shape, cpu = bench.TINY["tiny"], torch.device("cpu")
    qlora = bench.build_model(shape, "sdpa", cpu, bnb)
    trained = {p.dtype for p in qlora.parameters() if p.requires_grad}
    frozen = {p.dtype for p in qlora.parameters() if not p.requires_grad}
    assert trained == {torch.bfloat16}  # TRL's cast of the adapters of a quantized base
    assert frozen == {torch.uint8, torch.float32}  # 4-bit packed + prepare_model's fp32 casts
    lora = bench.build_model(shape, "sdpa", cpu, None)
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in lora.modules())
    assert {p.dtype for p in lora.parameters()} == {torch.float32}
    # The FLOP count does not depend on how the frozen weights are stored.
    assert bench.matmul_params(qlora)[:1] == bench.matmul_params(lora)[:1]


def test_prompt_tokens_are_masked_in_both_batchings_alike(bench) -> None:
    lengths = [20, 7, 13, 10]
    padded = bench.make_batches(lengths, 4, 100, False, 99, seed=0)[0]
    flat = bench.make_batches(lengths, 4, 100, True, 99, seed=0)[0]
    real = padded["labels"][padded["attention_mask"] == 1]
    assert torch.equal(real, flat["labels"][0])
    trained = int((flat["labels"] != -100).sum())
    assert trained == sum(n - math.ceil(bench.PROMPT_FRACTION * n) for n in lengths)
    assert (padded["labels"][padded["attention_mask"] == 0] == -100).all()


def test_runner_installs_carried_wheels_offline_then_runs_the_benchmark(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl").write_bytes(b"")
    calls = tmp_path / "calls"
    stand_in = tmp_path / "python"
    stand_in.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    stand_in.chmod(0o755)
    env = {**os.environ, "PYTHON": str(stand_in), "BIOQWEN_WHEELS": str(wheels)}
    runner = ROOT / "scripts" / "gpu_benchmark.sh"
    done = subprocess.run(["bash", str(runner), "--no-quant"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    install, bench_call = calls.read_text().splitlines()
    assert install.startswith(f"-m pip install --quiet --no-index --find-links {wheels} ")
    assert install.endswith("bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl")
    assert bench_call == "benchmarks/gpu_train_throughput.py --no-quant"
    # No wheel carried: nothing is installed.
    (wheels / "bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl").unlink()
    calls.unlink()
    assert subprocess.run(["bash", str(runner)], env=env).returncode == 0
    assert calls.read_text().splitlines() == ["benchmarks/gpu_train_throughput.py"]
