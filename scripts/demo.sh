#!/usr/bin/env bash
# `make demo`: the demo experiment (conf/experiment/demo.yaml) through `bioqwen pipeline`:
#   prepare the shipped samples -> train stage 1 -> stage 2 -> evaluate (NCBI, webMedQA)
# on the tiny model, W&B offline (run files under each step's run directory), then
# `bioqwen report` on the experiment. A second run skips every unchanged step; extra arguments
# go to the pipeline (e.g. `bash scripts/demo.sh tracking=disabled`).
set -euo pipefail
cd "$(dirname "$0")/.."
BQ=.venv/bin/bioqwen
PY=.venv/bin/python
DIR=runs/experiments/demo
# Keep the terminal to the pipeline's step lines and the trainer's progress: no per-map bars
# from datasets, no deprecation notices, no bitsandbytes notice about optional CPU kernels.
export HF_DATASETS_DISABLE_PROGRESS_BARS=1 PYTHONWARNINGS=ignore::FutureWarning
start=$SECONDS

$BQ pipeline +experiment=demo "+hydra.job_logging.loggers.bitsandbytes.level=ERROR" "$@"

printf '\n== training loss per logged optimizer step (trainer state of the last checkpoint)\n'
$PY - "$DIR" <<'PY'
import json
import sys
from pathlib import Path

for stage in ("train-stage1", "train-stage2"):
    states = sorted(
        Path(sys.argv[1], stage).glob("checkpoints/checkpoint-*/trainer_state.json"),
        key=lambda p: int(p.parent.name.split("-")[1]),
    )
    if states:
        log = [r for r in json.loads(states[-1].read_text())["log_history"] if "loss" in r]
        evals = [f"{r['eval_loss']:.3f}" for r in json.loads(states[-1].read_text())["log_history"] if "eval_loss" in r]
        first, last = log[0], log[-1]
        print(
            f"{stage}: step {first['step']} {first['loss']:.3f} -> step {last['step']} {last['loss']:.3f}"
            f" (validation loss: {', '.join(evals)})"
        )
PY

if $PY -c "import sys; from bioqwen.cli import JOBS; sys.exit('report' not in JOBS)"; then
  printf '\n== report\n'
  $BQ report report.group=demo
fi
printf '\n== demo finished in %d s; experiment record: %s/experiment.json\n' $((SECONDS - start)) "$DIR"
