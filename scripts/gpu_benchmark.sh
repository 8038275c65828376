#!/usr/bin/env bash
# GPU training throughput in one command, on a machine with only torch, transformers and peft:
#   bash scripts/gpu_benchmark.sh [options of benchmarks/gpu_train_throughput.py, e.g. --no-quant]
# Wheels carried with the checkout in wheels/ (or $BIOQWEN_WHEELS; e.g. bitsandbytes for QLoRA;
# keep them untracked, not ignored, so they travel) are installed first with pip --no-index.
# Without bitsandbytes the benchmark says so and times bf16 LoRA. Prints one ratio line per
# model and attention backend; finishes in under 5 minutes on one H200. With
# `--table benchmarks/results/gpu_train_throughput.json` it also writes the table `bioqwen plan`
# reads for GPU-hours (plan.table; rows of other GPUs in the file are kept): bring that file back.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
wheels=${BIOQWEN_WHEELS:-wheels}
shopt -s nullglob
carried=("$wheels"/*.whl)
if ((${#carried[@]})); then
  # A failed install is not fatal: the benchmark falls back to what imports.
  "$python" -m pip install --quiet --no-index --find-links "$wheels" "${carried[@]}" ||
    echo "gpu_benchmark: could not install ${carried[*]}; continuing without them" >&2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" benchmarks/gpu_train_throughput.py "$@"
