"""What a training run reports: its W&B labels, metrics.json summary and lineage.json entries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bioqwen.runs import ADAPTER_DIR, MERGED_DIR, code_revision, library_versions
from bioqwen.train.callbacks import wandb_key
from bioqwen.train.model import count_4bit_layers, count_parameters
from bioqwen.train.stages import InitPlan
from bioqwen.train.trainer import CHECKPOINTS

# The libraries whose versions change what training computes.
LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "datasets")


def run_labels(cfg: Any, mix: str) -> tuple[str, str, list[str]]:
    """W&B name, group and tags from model, stage, method, mix, learning rate and LoRA r."""
    lora = cfg.method.lora
    rank = f"r{lora.r}" if lora else "full"
    lr = f"{float(cfg.stage.learning_rate):g}"
    name = f"{cfg.model.name}-{cfg.stage.name}-{cfg.method.name}-{mix}-lr{lr}-{rank}"
    group = f"{cfg.model.name}-{cfg.method.name}-{mix}"
    tags = [
        f"model:{cfg.model.name}",
        f"stage:{cfg.stage.name}",
        f"method:{cfg.method.name}",
        f"mix:{mix}",
        f"lr:{lr}",
        f"lora_r:{lora.r if lora else 'none'}",
    ]
    return name, group, tags


def summarize(
    trainer: Any,
    result: Any,
    data_stats: Mapping[str, Any],
    eval_metrics: Mapping[str, float],
    logged: Mapping[str, float],
    precision: str,
) -> dict[str, Any]:
    """metrics.json of a finished run: data counts, losses, schedule, model size, throughput.

    `logged` is the last value of every key the run logged (training rows, generation hook).
    """
    model, args, state = trainer.model, trainer.args, trainer.state
    attention = trainer.accelerator.unwrap_model(model).config._attn_implementation
    trainable, total = count_parameters(model)
    world = trainer.accelerator.num_processes
    summary: dict[str, Any] = {
        **data_stats,
        "train/mean_loss": float(result.training_loss),
        "train/global_step": int(state.global_step),
        "train/epoch": float(state.epoch or 0.0),
        "train/runtime_s": float(result.metrics.get("train_runtime", 0.0)),
        "model/trainable_params": trainable,
        "model/total_params": total,
        "model/trainable_fraction": trainable / max(total, 1),
        "model/quantized_4bit_layers": count_4bit_layers(model),
        "batch/world_size": world,
        "batch/per_device_size": int(args.per_device_train_batch_size),
        "batch/gradient_accumulation_steps": int(args.gradient_accumulation_steps),
        "batch/effective_size": int(args.per_device_train_batch_size)
        * int(args.gradient_accumulation_steps)
        * world,
        "batch/total_steps": int(state.max_steps),
        "batch/warmup_steps": int(args.get_warmup_steps(state.max_steps)),
        "precision": precision,
        "attn_implementation": str(attention),
    }
    # eval/loss and, per task of the validation split, eval/<task>_loss.
    summary.update({wandb_key(k): float(v) for k, v in eval_metrics.items() if k.endswith("_loss")})
    summary.update(
        {k: v for k, v in logged.items() if k.startswith(("perf/run_", "gen/", "perf/gen_"))}
    )
    if "train/loss" in logged:
        # The paper's target (training loss < 1) is about the end of training, not the mean:
        # train/loss (the W&B curve's last point) and train/final_loss are the last step's.
        summary["train/loss"] = summary["train/final_loss"] = logged["train/loss"]
    return summary


def lineage_entries(
    plan: InitPlan,
    stage: Mapping[str, Any],
    method: str,
    model: Mapping[str, Any],
    data: Mapping[str, Any],
    resumed_from: str | None,
    merged: bool,
) -> dict[str, Any]:
    """lineage.json of a train run: what it started from, on which data, with which code and
    libraries, and what it left."""
    parent = plan.parent
    return {
        "code": code_revision(),
        "versions": library_versions(LIBRARIES),
        "stage": stage["name"],
        "method": method,
        "model": dict(model),
        "adapter_base": plan.base_source,
        "init_from": str(parent.dir) if parent else None,
        "init_mode": stage["init_mode"] if parent else None,
        "parents": [
            {
                "run": str(parent.dir),
                "job": "train",
                "stage": parent.lineage.get("stage"),
                "data": parent.lineage.get("data"),
            }
        ]
        if parent
        else [],
        "data": dict(data),
        "resumed_from": resumed_from,
        "artefacts": {
            ADAPTER_DIR: None if method == "full" else ADAPTER_DIR,
            MERGED_DIR: MERGED_DIR if merged else None,
            "checkpoints": CHECKPOINTS,
        },
    }


def log_artifacts(
    tracker: Any,
    directory: Path,
    label: str,
    lineage: Mapping[str, Any],
    summary: Mapping[str, Any],
    inputs: list[dict[str, str]],
) -> dict[str, str]:
    """Log the adapter and merged model the run wrote (lineage_entries' `artefacts`) as W&B
    artifacts by reference, with the stage, adapter base, inputs and summary as metadata;
    returns {ADAPTER_DIR|MERGED_DIR: "<artifact>:run-<id>"} for lineage.json and the next stage."""
    from bioqwen.artifacts import ARTIFACT_TYPES, log_model

    about = {"stage": lineage["stage"], "adapter_base": lineage["adapter_base"], "inputs": inputs}
    refs = {}
    for part, written in lineage["artefacts"].items():
        if part in ARTIFACT_TYPES and written and (directory / written).is_dir():
            paths = {part: directory / written}
            ref = log_model(
                tracker, f"{label}-{part}", ARTIFACT_TYPES[part], paths, {**about, **summary}
            )
            if ref:
                refs[part] = ref
    return refs
