#!/usr/bin/env bash
# QLoRA training throughput on this machine's GPU, one command (needs torch, transformers, peft):
#   scripts/gpu_train_benchmark.sh [--models Qwen2-0.5B] [--no-quant]
# bitsandbytes is installed from a wheel carried with the checkout (shared/wheels/ or wheels/,
# `pip install --no-index`: no network needed) when it is not importable yet; without one, pass
# --no-quant to time bf16 LoRA. Writes benchmark-results/gpu_train_throughput.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import bitsandbytes" 2>/dev/null; then
  for wheel in shared/wheels/bitsandbytes-*.whl wheels/bitsandbytes-*.whl; do
    if [ -f "$wheel" ]; then
      "$PYTHON" -m pip install --quiet --no-index --no-deps "$wheel"
      break
    fi
  done
fi
mkdir -p benchmark-results
exec "$PYTHON" benchmarks/gpu_train_throughput.py --json benchmark-results/gpu_train_throughput.json "$@"
