#!/usr/bin/env bash
# `make demo`: the demo experiment (conf/experiment/demo.yaml) through `bioqwen pipeline`:
#   prepare the shipped samples -> train stage 1 -> stage 2 -> evaluate (NCBI, webMedQA, cMedQA2)
#   -> export (GGUF F16 + Q4_0, MLC config) -> evaluate the Q4_0 and F16 files (INT4 row, sizes)
# on the tiny model, W&B offline (run files under each step's run directory), then a 2 x 2 grid
# (learning rate x method, 2 seeds per cell) with `bioqwen train -m`, then `bioqwen report` on both. A second run skips every unchanged step; extra arguments
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

# Not under runs/demo/: the report's `report.group=demo` takes runs with a path part `demo`, and
# would draw the sweep's points among the experiment's training curves.
SWEEP=runs/sweeps/demo-grid
if [ -f "$SWEEP/sweep_summary.csv" ]; then
  printf '\n== sweep: %s is complete (rm -r it to run the grid again)\n' "$SWEEP"
else
  printf '\n== sweep: learning rate x method (LoRA / full), 2 seeds each, on the tiny model\n'
  rm -rf "$SWEEP"
  # A random tiny model gives an adapter nothing to steer (LoRA cells differ by ~0.01 in eval
  # loss, within seed noise): full fine-tuning beside it separates the cells. 10 steps, eval
  # at 5 and 10; every point runs once per seed (hydra.callbacks.sweep.seeds).
  $BQ train -m model=tiny data_dir="$DIR/prepare" \
    stage.learning_rate=3e-3,3e-2 method=lora,full 'hydra.callbacks.sweep.seeds=[1,2]' \
    hydra.callbacks.sweep.y=method stage.max_steps=10 stage.effective_batch_size=4 \
    stage.logging_steps=2 stage.eval_steps=5 stage.save_steps=10 \
    "hydra.sweep.dir=$SWEEP" "+hydra.job_logging.loggers.bitsandbytes.level=ERROR"
fi

printf '\n== report: the demo experiment beside the paper, and the sweep\n'
$BQ report report.group=demo "report.sweeps=[$SWEEP]" report.sweep.y=method
printf '\n== demo finished in %d s; experiment record: %s/experiment.json\n' $((SECONDS - start)) "$DIR"
