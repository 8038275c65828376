"""Trainer callbacks: throughput bookkeeping, W&B forwarding, and an optional generation hook.

Throughput is counted from the batches themselves, both with and without padding tokens, so
the gain of padding-free batching is visible (Trainer's `num_input_tokens_seen` counts padding).
"""

from __future__ import annotations

import inspect
import logging
import resource
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from bioqwen.data.chatml import IGNORE_INDEX
from bioqwen.errors import BioqwenError
from bioqwen.tracking import Tracker

log = logging.getLogger("bioqwen.train")

# A generation-metric hook: given the model and a left-padding tokenizer, return metrics.
GenerationMetricFn = Callable[[Any, Any], Mapping[str, float]]


def generation_hook(
    spec: Mapping[str, Any], system_prompts: Mapping[str, str]
) -> GenerationMetricFn | None:
    """The hook that `generation_eval.hook` builds through Hydra's `_target_`, if it names one.

    Training names its hook in the config and never imports it: the evaluation code's hook
    (bioqwen.eval.training_hook) reaches the trainer through the job. A factory that takes a
    `system_prompts` argument gets the run's own data.system_prompts (unless the hook spec sets
    them), so what it renders is what this run trains on.
    """
    target = spec.get("_target_")
    if not target:
        return None
    from hydra.utils import get_method

    try:
        factory = get_method(str(target))
    except (ImportError, ValueError) as err:  # a path Hydra cannot import or call
        raise BioqwenError(f"generation_eval.hook._target_={target!r}: {err}") from err
    options = {k: v for k, v in spec.items() if k != "_target_"}
    if "system_prompts" in inspect.signature(factory).parameters:
        options.setdefault("system_prompts", dict(system_prompts))
    # Called here rather than by hydra.utils.instantiate, which would wrap a factory's own
    # error (an unknown benchmark) in an InstantiationException.
    hook: GenerationMetricFn = factory(**options)
    return hook


# Counter slots of ThroughputMeter.
TOKENS_ALL, TOKENS_REAL, SAMPLES, TRAINED = range(4)


def peak_memory_gb() -> float:
    """Peak memory of this process: CUDA allocator peak on a GPU, else peak resident set."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (2**30 if sys.platform == "darwin" else 2**20)


def batch_counts(inputs: Mapping[str, Any]) -> torch.Tensor:
    """Tokens with padding, tokens without, samples and trained tokens of one micro-batch.

    A float64 tensor on the batch's device, built without reading any device value back:
    counting every micro-batch must not make the host wait for the GPU (one sync per log row,
    when the meter's window is read, is enough).
    """
    ids = inputs["input_ids"]

    def known(value: float) -> torch.Tensor:  # a host-known number, filled on the device
        return torch.full((), value, dtype=torch.float64, device=ids.device)

    if "attention_mask" in inputs:
        real, samples = inputs["attention_mask"].sum(), known(ids.shape[0])
    elif "cu_seq_lens_q" in inputs:
        # Padding-free: one flattened row; boundaries mark the samples it holds.
        bounds = inputs["cu_seq_lens_q"]
        real, samples = bounds[-1], known(bounds.numel() - 1)
    else:
        real, samples = known(ids.numel()), known(ids.shape[0])
    trained = (inputs["labels"] != IGNORE_INDEX).sum()
    parts = [known(ids.numel()), real, samples, trained]
    return torch.stack([part.to(device=ids.device, dtype=torch.float64) for part in parts])


class ThroughputMeter(TrainerCallback):
    """Times optimizer steps and accumulates batch counts; the trainer reads it when logging."""

    def __init__(self) -> None:
        self.window = torch.zeros(4, dtype=torch.float64)
        self.total = torch.zeros(4, dtype=torch.float64)
        self.window_time = 0.0
        self.window_steps = 0
        self.total_time = 0.0
        self.total_steps = 0
        self._started: float | None = None

    def add(self, inputs: Mapping[str, Any]) -> None:
        """Count one micro-batch (on its device: no host sync)."""
        counts = batch_counts(inputs)
        if self.window.device != counts.device:
            self.window, self.total = self.window.to(counts.device), self.total.to(counts.device)
        self.window += counts
        self.total += counts

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Start timing an optimizer step (all its accumulation micro-batches)."""
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._started = time.perf_counter()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Stop timing the optimizer step."""
        if self._started is None:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - self._started
        self._started = None
        self.window_time += elapsed
        self.window_steps += 1
        self.total_time += elapsed
        self.total_steps += 1

    @staticmethod
    def rates(
        counts: torch.Tensor, seconds: float, steps: int, world_size: int
    ) -> dict[str, float]:
        """Throughput of summed counts over the wall time of one process (processes run in step)."""
        seconds = max(seconds, 1e-9)
        all_tokens = float(counts[TOKENS_ALL])
        return {
            "perf/tokens_per_s": float(counts[TOKENS_REAL]) / seconds,
            "perf/tokens_per_s_incl_padding": all_tokens / seconds,
            "perf/trained_tokens_per_s": float(counts[TRAINED]) / seconds,
            "perf/samples_per_s": float(counts[SAMPLES]) / seconds,
            # Measured samples per optimizer step (packed: bins x their samples), to check
            # against the planned batch/effective_samples.
            "perf/samples_per_step": float(counts[SAMPLES]) / max(steps, 1),
            "perf/step_time_s": seconds / max(steps, 1),
            "perf/padding_fraction": 1.0 - float(counts[TOKENS_REAL]) / max(all_tokens, 1.0),
            "perf/tokens_per_s_per_device": float(counts[TOKENS_REAL]) / seconds / world_size,
            "perf/peak_memory_gb": peak_memory_gb(),
        }

    def take_window(self) -> tuple[torch.Tensor, float, int]:
        """Return and reset the counts and time since the last log."""
        window = (self.window.cpu(), self.window_time, self.window_steps)
        self.window = torch.zeros_like(self.window)
        self.window_time = 0.0
        self.window_steps = 0
        return window


# The Trainer's closing row reports the run's mean loss as `train_loss`: it must not land on
# `train/loss`, where it would overwrite the last step's loss (and the curve's last point).
RENAMED = {"train_loss": "train/mean_loss"}


def wandb_key(key: str) -> str:
    """Namespace a Trainer log key for W&B: eval_loss -> eval/loss, loss -> train/loss."""
    if "/" in key:
        return key
    if key in RENAMED:
        return RENAMED[key]
    if key.startswith("eval_"):
        return "eval/" + key[len("eval_") :]
    if key.startswith("train_"):
        return "train/" + key[len("train_") :]
    return "train/" + key


class TrackerCallback(TrainerCallback):
    """Forward every Trainer log row to the run's tracker (main process only) and keep the last."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.last: dict[str, float] = {}

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log one row under namespaced keys at the current optimizer step."""
        if not state.is_world_process_zero or not logs:
            return
        row = {
            wandb_key(k): float(v)
            for k, v in logs.items()
            if isinstance(v, int | float) and k != "step"
        }
        self.last.update(row)
        self.tracker.log(row, step=state.global_step)


class GenerationMetricsCallback(TrainerCallback):
    """Run a generation-metric hook every N optimizer steps and at the end of training.

    The hook is any callable (the evaluation module provides one; training never imports it).
    It gets the model in eval mode and the tokenizer with left padding, as batched generation
    needs; the results are logged under `gen/`.
    """

    def __init__(
        self, fn: GenerationMetricFn, tokenizer: Any, every_steps: int, tracker: Tracker
    ) -> None:
        self.fn = fn
        self.tokenizer = tokenizer
        self.every_steps = every_steps
        self.tracker = tracker
        self.last: dict[str, float] = {}
        self._last_step = -1

    def _run(self, state: TrainerState, model: Any) -> None:
        if not state.is_world_process_zero or model is None or state.global_step == self._last_step:
            return
        self._last_step = state.global_step
        side = self.tokenizer.padding_side
        was_training = model.training
        self.tokenizer.padding_side = "left"
        started = time.perf_counter()
        model.eval()
        # The hook may reseed or draw from the global RNG (sampling, evaluation's own seed):
        # forking it keeps training's dropout and data order those of a run without the hook.
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=devices):
                metrics = dict(self.fn(model, self.tokenizer))
        finally:
            self.tokenizer.padding_side = side
            if was_training:
                model.train()
        row = {f"gen/{k}": float(v) for k, v in metrics.items()}
        # Its own time, apart from the optimizer step's (perf/step_time_s excludes the hook).
        row["perf/gen_hook_s"] = time.perf_counter() - started
        self.last.update(row)
        self.tracker.log(row, step=state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Run the hook on every N-th optimizer step."""
        if self.every_steps > 0 and state.global_step % self.every_steps == 0:
            self._run(state, kwargs.get("model"))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Run the hook once more on the final weights."""
        self._run(state, kwargs.get("model"))


class ReadableProgress(ProgressCallback):
    """The training bar with one readable line per log row, written through the bar's own stream.

    Transformers prints each row as a dict on stdout while its bars draw on stderr, so in a
    terminal the rows land mid-bar; the nested evaluation bar interleaves with the training
    bar as well. Here a row is `step 2/4 | loss 6.911 | ...` written by tqdm on the bar's
    stream (it clears and redraws the bar), and evaluation inside training draws no bar.
    """

    def on_prediction_step(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        eval_dataloader: Any = None,
        **kwargs: Any,
    ) -> None:
        """Draw an evaluation bar only outside training (a standalone evaluate call), and
        clear it when done: the final evaluation runs once per task and its numbers are in
        metrics.json, so six finished bars would only push the run's last lines away."""
        if self.training_bar is None:
            super().on_prediction_step(args, state, control, eval_dataloader, **kwargs)
            if self.prediction_bar is not None:
                self.prediction_bar.leave = False

    def on_log(
        self, args: Any, state: TrainerState, control: Any, logs: Any = None, **_: Any
    ) -> None:
        """Write the row as one `key value` line above the bar."""
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        fields = [f"step {state.global_step}/{state.max_steps}"]
        for key, value in logs.items():
            if key == "total_flos" or not isinstance(value, int | float):
                continue
            fields.append(f"{wandb_key(key)} {value:.4g}")
        self.training_bar.write(" | ".join(fields), file=sys.stderr)


def early_stopping(stage: Mapping[str, Any], has_eval: bool) -> list[TrainerCallback]:
    """transformers' EarlyStoppingCallback when stage.early_stopping > 0 and there is eval data."""
    from transformers import EarlyStoppingCallback

    patience = int(stage["early_stopping"])
    if patience < 1 or not has_eval:
        return []
    return [EarlyStoppingCallback(early_stopping_patience=patience)]
