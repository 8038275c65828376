"""TRL SFTTrainer configured from a stage and a method, with throughput in every log row.

Effective batch size and warm-up steps follow the real world size: the Trainer shards the data
per process, so the optimizer-step count (and the 10 % warm-up drawn from it) already accounts
for `accelerate launch`/`torchrun` process counts, as the authors' visible-GPU count did.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase, TrainerCallback
from trl import SFTConfig, SFTTrainer

from bioqwen.errors import BioqwenError
from bioqwen.train.callbacks import ThroughputMeter

log = logging.getLogger("bioqwen.train")

BATCHING = ("pad", "padding_free", "packed")
INIT_MODES = ("merge", "continue")
CHECKPOINTS = "checkpoints"


def check_stage(stage: Mapping[str, Any]) -> None:
    """Reject stage settings the trainer would only fail on later (or silently misread)."""
    if stage["batching"] not in BATCHING:
        raise BioqwenError(f"stage.batching={stage['batching']!r}: expected one of {BATCHING}")
    if stage["init_mode"] not in INIT_MODES:
        raise BioqwenError(f"stage.init_mode={stage['init_mode']!r}: expected one of {INIT_MODES}")
    if not 0.0 <= float(stage["warmup_ratio"]) < 1.0:
        raise BioqwenError(
            f"stage.warmup_ratio={stage['warmup_ratio']}: expected a fraction in [0, 1)"
        )
    if str(stage["optim"]).startswith("paged_") and not torch.cuda.is_available():
        raise BioqwenError(f"stage.optim={stage['optim']}: paged optimizers need a CUDA device")
    for key in ("per_device_batch_size", "gradient_accumulation_steps", "max_length"):
        if int(stage[key]) < 1:
            raise BioqwenError(f"stage.{key}={stage[key]}: must be >= 1")


def sft_config(
    stage: Mapping[str, Any],
    method: Mapping[str, Any],
    output_dir: str | Path,
    seed: int,
    precision: str,
    has_eval: bool,
    deepspeed: str | None = None,
) -> SFTConfig:
    """Translate a stage + method into SFTConfig (no reporting: the job owns the W&B run)."""
    check_stage(stage)
    batching = stage["batching"]
    eval_steps = int(stage["eval_steps"])
    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=float(stage["epochs"]),
        max_steps=int(stage["max_steps"]),
        learning_rate=float(stage["learning_rate"]),
        lr_scheduler_type=str(stage["lr_scheduler"]),
        # A float below 1 is a fraction of the total optimizer steps.
        warmup_steps=float(stage["warmup_ratio"]),
        per_device_train_batch_size=int(stage["per_device_batch_size"]),
        per_device_eval_batch_size=int(stage["eval_batch_size"]),
        gradient_accumulation_steps=int(stage["gradient_accumulation_steps"]),
        weight_decay=float(stage["weight_decay"]),
        max_grad_norm=float(stage["max_grad_norm"]),
        optim=str(stage["optim"]),
        seed=seed,
        data_seed=seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=bool(method.get("gradient_checkpointing", False)),
        logging_steps=int(stage["logging_steps"]),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=int(stage["save_steps"]),
        save_total_limit=stage.get("save_total_limit"),
        eval_strategy="steps" if has_eval and eval_steps > 0 else "no",
        eval_steps=eval_steps if eval_steps > 0 else None,
        report_to="none",
        deepspeed=deepspeed,
        dataloader_num_workers=int(stage.get("dataloader_num_workers", 0)),
        ddp_find_unused_parameters=False,
        # Labels come pre-built from ChatML masks; TRL must not re-derive them.
        assistant_only_loss=False,
        completion_only_loss=False,
        padding_free=batching == "padding_free",
        packing=batching == "packed",
        packing_strategy="bfd",
        # Padding-free batches are not truncated by TRL; the data step already cut them.
        max_length=None if batching == "padding_free" else int(stage["max_length"]),
    )


class BioqwenTrainer(SFTTrainer):
    """SFTTrainer that adds padding-aware throughput, step time and peak memory to each log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.meter = ThroughputMeter()
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), self.meter]
        super().__init__(*args, **kwargs)

    def training_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Count the micro-batch, then train on it."""
        self.meter.add(inputs)
        return super().training_step(model, inputs, num_items_in_batch)

    def _reduced(self, counts: torch.Tensor) -> torch.Tensor:
        """Sum counts over processes (every rank calls log in the same order)."""
        if self.accelerator.num_processes == 1:
            return counts
        summed = self.accelerator.reduce(counts.to(self.accelerator.device), reduction="sum")
        return summed.cpu()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add throughput since the last training log (or over the whole run at the end)."""
        world = self.accelerator.num_processes
        if "loss" in logs:
            counts, seconds, steps = self.meter.take_window()
            logs.update(self.meter.rates(self._reduced(counts), seconds, steps, world))
        elif "train_runtime" in logs:
            totals = self._reduced(self.meter.total.clone())
            rates = self.meter.rates(totals, self.meter.total_time, self.meter.total_steps, world)
            logs.update({k.replace("perf/", "perf/run_"): v for k, v in rates.items()})
        super().log(logs, start_time)


def build_trainer(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    train: Dataset,
    validation: Dataset | None,
    args: SFTConfig,
    callbacks: list[TrainerCallback] | None = None,
) -> BioqwenTrainer:
    """A trainer on pre-tokenized (input_ids, labels) splits."""
    tokenizer.padding_side = "right"
    return BioqwenTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def newest_checkpoint(run_dir: str | Path) -> str:
    """The newest `checkpoint-N` of a run, or a BioqwenError naming the directory searched."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(run_dir) / CHECKPOINTS
    found = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if not found:
        raise BioqwenError(f"resume=true: no checkpoint-* under {folder}")
    return str(found)
