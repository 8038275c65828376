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

printf '\n== training loss per logged optimizer step (W&B history)\n'
$PY - "$DIR" <<'PY'
import sys
from pathlib import Path

from bioqwen.tracking import read_offline_run

for stage in ("train-stage1", "train-stage2"):
    runs = sorted(Path(sys.argv[1], stage).glob("wandb/offline-run-*"), key=lambda p: p.stat().st_mtime)
    # Step rows carry the learning rate; the end-of-training row holds the mean loss instead.
    rows = [r for run in runs for r in read_offline_run(run)["history"] if "train/learning_rate" in r]
    if rows:
        first, last = rows[0], rows[-1]
        print(f"{stage}: step {first['_step']} {first['train/loss']:.3f} -> step {last['_step']} {last['train/loss']:.3f}")
PY

if $PY -c "import sys; from bioqwen.cli import JOBS; sys.exit('report' not in JOBS)"; then
  printf '\n== report\n'
  $BQ report report.group=demo
fi
printf '\n== demo finished in %d s; experiment record: %s/experiment.json\n' $((SECONDS - start)) "$DIR"
