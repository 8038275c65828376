#!/usr/bin/env bash
# The main job end to end on the embedded default: tiny Qwen2-architecture model, shipped
# samples, W&B offline (run files under each run directory; `wandb sync <dir>` uploads later).
#   prepare -> train stage 1 -> train stage 2 (from stage 1) -> evaluate (NCBI) -> score (webMedQA)
set -euo pipefail
cd "$(dirname "$0")/.."
BQ=.venv/bin/bioqwen
OUT=${DEMO_DIR:-runs/demo}
rm -rf "$OUT"
step() { printf '\n== %s\n' "$*"; }

step "prepare the sample mix (data card = paper Table 1 layout)"
$BQ prepare data/mix=sample hydra.run.dir="$OUT/prepare"
cat "$OUT/prepare/data_card.md"

step "train stage 1 (tiny model, sample mix, the paper's QLoRA settings, 12 steps on CPU)"
$BQ train +experiment=train_demo stage=stage1 hydra.run.dir="$OUT/train-stage1"

step "train stage 2 from the merged stage-1 model"
$BQ train +experiment=train_demo stage=stage2 stage.init_from="$OUT/train-stage1" \
  hydra.run.dir="$OUT/train-stage2"

step "evaluate the stage-2 model on NCBI disease (4 abstracts)"
$BQ evaluate model.path="$OUT/train-stage2/merged" benchmark=ncbi benchmark.limit=4 \
  hydra.run.dir="$OUT/evaluate-ncbi"

step "score the authors' released webMedQA predictions (reproduces the published metrics)"
$BQ score benchmark=webmedqa \
  predictions=samples/benchmarks/webmedqa/BioQwen-1.8B-qa-webmedqa.csv \
  hydra.run.dir="$OUT/score-webmedqa"

step "run directories"
for d in "$OUT"/*/; do
  printf '%-28s %s\n' "$(basename "$d")" "$(ls "$d" | tr '\n' ' ')"
done
