"""TRL SFTTrainer configured from a stage and a method, with throughput in every log row.

The effective batch is a setting (stage.effective_batch_size, the paper's 64 samples): gradient
accumulation is derived from it, the per-device batch and the number of processes, so a paper
run takes the paper's optimizer steps on one GPU or four. A batch element is one sample in `pad`
and `padding_free` batching; in `packed` batching it is a bin of up to max_length tokens holding
several samples, packed once by bioqwen.train.bins, whose accumulation is sized from the mean
samples per bin so that a step still holds about effective_batch_size samples. The Trainer
shards the data per process, so the optimizer-step count (and the 10 % warm-up drawn from it)
follows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import ProgressCallback
from trl import SFTConfig, SFTTrainer

from bioqwen.errors import BioqwenError
from bioqwen.runs import disk_full, remove_inside
from bioqwen.train.accumulation import accumulation_steps
from bioqwen.train.callbacks import ReadableProgress, ThroughputMeter
from bioqwen.train.loss import causal_lm_loss
from bioqwen.train.resume import CHECKPOINTS as CHECKPOINTS  # where checkpoints go (the job)
from bioqwen.train.resume import COMPLETE, mark_complete

log = logging.getLogger("bioqwen.train")


def check_stage(stage: Mapping[str, Any], world_size: int = 1) -> None:
    """Reject stage settings the trainer would only fail on later (or silently misread); the
    allowed values of batching and init_mode are checked at composition (StageConfig)."""
    if not 0.0 <= float(stage["warmup_ratio"]) < 1.0:
        raise BioqwenError(
            f"stage.warmup_ratio={stage['warmup_ratio']}: expected a fraction in [0, 1)"
        )
    if str(stage["optim"]).startswith("paged_") and not torch.cuda.is_available():
        raise BioqwenError(f"stage.optim={stage['optim']}: paged optimizers need a CUDA device")
    if (stage["keep_best"] or int(stage["early_stopping"]) > 0) and int(stage["eval_steps"]) < 1:
        raise BioqwenError(
            "stage.keep_best / stage.early_stopping compare eval losses during training: "
            f"set stage.eval_steps > 0 (it is {stage['eval_steps']})"
        )
    if stage["keep_best"] and int(stage["save_steps"]) % int(stage["eval_steps"]):
        raise BioqwenError(
            f"stage.keep_best: stage.save_steps={stage['save_steps']} must be a multiple of "
            f"stage.eval_steps={stage['eval_steps']} (the best checkpoint must be saved)"
        )
    if not float(stage["learning_rate"]) > 0.0:
        raise BioqwenError(f"stage.learning_rate={stage['learning_rate']}: must be > 0")
    for key in ("per_device_batch_size", "effective_batch_size", "max_length"):
        if int(stage[key]) < 1:
            raise BioqwenError(f"stage.{key}={stage[key]}: must be >= 1")
    if stage["batching"] != "packed":  # packed: sized from the bins (bins.packed_accumulation)
        accumulation_steps(stage, world_size)


def sft_config(
    stage: Mapping[str, Any],
    method: Mapping[str, Any],
    output_dir: str | Path,
    seed: int,
    precision: str,
    has_eval: bool,
    deepspeed: str | None = None,
    world_size: int = 1,
    accumulation: int | None = None,
) -> SFTConfig:
    """Translate a stage + method into SFTConfig (no reporting: the job owns the W&B run).

    `accumulation` is the plan's (bins.plan_batches); without it, the stage's (pad modes only).
    """
    check_stage(stage, world_size)
    batching = stage["batching"]
    if accumulation is None:
        if batching == "packed":
            raise ValueError("packed batching: pass the accumulation of bins.plan_batches")
        accumulation = accumulation_steps(stage, world_size)
    # Packed rows are bins built by bioqwen.train.bins: TRL must not pack them again; its
    # padding-free collator restarts position ids at each sample of a bin (its seq_lengths).
    flat = batching in ("padding_free", "packed")
    eval_steps = int(stage["eval_steps"])
    tracks_best = has_eval and (bool(stage["keep_best"]) or int(stage["early_stopping"]) > 0)
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
        gradient_accumulation_steps=accumulation,
        weight_decay=float(stage["weight_decay"]),
        max_grad_norm=float(stage["max_grad_norm"]),
        optim=str(stage["optim"]),
        seed=seed,
        data_seed=seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=bool(method["gradient_checkpointing"]),
        logging_steps=int(stage["logging_steps"]),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=int(stage["save_steps"]),
        save_total_limit=stage["save_total_limit"],
        eval_strategy="steps" if has_eval and eval_steps > 0 else "no",
        # stage.keep_best: the final weights are the best eval-loss checkpoint's.
        load_best_model_at_end=bool(stage["keep_best"]) and has_eval,
        metric_for_best_model="loss" if tracks_best else None,
        greater_is_better=False if tracks_best else None,
        eval_steps=eval_steps if eval_steps > 0 else None,
        report_to="none",
        deepspeed=deepspeed,
        dataloader_num_workers=int(stage["dataloader_num_workers"]),
        ddp_find_unused_parameters=False,
        # Labels come pre-built from ChatML masks; TRL must not re-derive them.
        assistant_only_loss=False,
        completion_only_loss=False,
        padding_free=flat,
        packing=False,
        # Padding-free batches are not truncated by TRL; the data step already cut them.
        max_length=None if flat else int(stage["max_length"]),
    )


class BioqwenTrainer(SFTTrainer):
    """SFTTrainer that adds padding-aware throughput, step time and peak memory to each log."""

    token_metrics = False  # stage.token_metrics: TRL's loss with its per-token metrics
    eval_by_task: dict[str, Dataset] = {}  # noqa: RUF012  (replaced per trainer, never mutated)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.meter = ThroughputMeter()
        # First of the run's callbacks, so a step's clock stops before any later callback (the
        # generation hook, checkpoint-time work of others) runs in the same on_step_end.
        kwargs["callbacks"] = [self.meter, *(kwargs["callbacks"] or [])]
        super().__init__(*args, **kwargs)

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        """The labelled-positions loss (bioqwen.train.loss); TRL's own with its per-token
        entropy and accuracy metrics when stage.token_metrics is on (or outputs are wanted)."""
        if self.token_metrics or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        unwrapped = self.accelerator.unwrap_model(model)
        loss = causal_lm_loss(model, unwrapped, inputs, num_items_in_batch)
        # As transformers' and TRL's: num_items_in_batch counts every rank's labels, and DDP
        # averages the gradients over ranks.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        return loss

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Eval loss on the validation split, then on each task's part of it (eval/<task>_loss:
        stage 2's forgetting of stage-1 tasks shows), each logged as its own row."""
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if eval_dataset is None and metric_key_prefix == "eval":
            for task, subset in self.eval_by_task.items():
                metrics.update(super().evaluate(subset, ignore_keys, f"eval_{task}"))
        return metrics

    def training_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Count the micro-batch, then train on it."""
        self.meter.add(inputs)
        return super().training_step(model, inputs, num_items_in_batch)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Train; a user error mid-run (a full disk) first ends the progress bar's line, so
        that the job's `bioqwen: error:` line is a line of its own."""
        try:
            return super().train(*args, **kwargs)
        except BioqwenError:
            for callback in self.callback_handler.callbacks:
                if isinstance(callback, ProgressCallback) and callback.training_bar is not None:
                    callback.training_bar.close()
                    callback.training_bar = None
            raise

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """Save checkpoint-N as the Trainer does, then mark it complete (bioqwen.train.resume
        takes only marked ones); old checkpoints are rotated out only after the mark, so a
        kill mid-save always leaves the previous complete one. A full disk is a user error
        naming the checkpoint, whose partial files are removed (they only take space)."""
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

        step = self.state.global_step
        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
        if self.args.should_save:  # an earlier run's checkpoint of this step is rewritten
            (folder / COMPLETE).unlink(missing_ok=True)
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # the Trainer's own rotation would run before the mark
        try:
            super()._save_checkpoint(model, trial)
        except Exception as err:
            if not disk_full(err, folder):
                raise
            if self.args.should_save:
                remove_inside(folder, folder.parent)
            raise BioqwenError(
                f"{folder}: no space left on device while saving this checkpoint (removed); "
                "free some space, then run again with resume=true (it continues from the "
                "previous complete checkpoint)"
            ) from err
        finally:
            self.args.save_total_limit = limit
        if self.args.should_save:
            mark_complete(folder, step)
            rotate_checkpoints(
                output_dir=str(folder.parent),
                save_total_limit=limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )

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
            totals = self._reduced(self.meter.total.cpu())
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
    token_metrics: bool = False,
) -> BioqwenTrainer:
    """A trainer on pre-tokenized (input_ids, labels) splits; see compute_loss for metrics."""
    tokenizer.padding_side = "right"
    # The splits come tokenized and cut to max_length: TRL's own passes over them (truncation,
    # dropping fully masked rows) change nothing, so their bars would only be noise.
    with datasets_bars_off():
        splits = {"train_dataset": train, "eval_dataset": validation}
        trainer = BioqwenTrainer(
            model, args, processing_class=tokenizer, callbacks=callbacks, **splits
        )
        trainer.token_metrics = token_metrics
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(ReadableProgress())
    return trainer


@contextlib.contextmanager
def datasets_bars_off() -> Iterator[None]:
    """Silence `datasets` progress bars for the block (restoring the user's setting after)."""
    from datasets.utils import logging as datasets_logging

    enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            datasets_logging.enable_progress_bar()
