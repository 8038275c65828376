"""Throughput bookkeeping, W&B key mapping and the generation hook named by `_target_`."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from bioqwen.errors import BioqwenError
from bioqwen.train.callbacks import (
    SAMPLES,
    TOKENS_ALL,
    TOKENS_REAL,
    TRAINED,
    ThroughputMeter,
    TrackerCallback,
    batch_counts,
    generation_hook,
    wandb_key,
)
from tests.conftest import compose_config


def test_padded_and_padding_free_batches_are_counted_alike():
    padded = {
        "input_ids": torch.ones(2, 5, dtype=torch.long),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
        "labels": torch.tensor([[-100, -100, 3, 4, 5], [-100, 7, 8, -100, -100]]),
    }
    flat = {
        "input_ids": torch.ones(1, 8, dtype=torch.long),
        "position_ids": torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2]]),
        "cu_seq_lens_q": torch.tensor([0, 5, 8], dtype=torch.int32),
        "labels": torch.tensor([[-100, -100, 3, 4, 5, -100, 7, 8]]),
    }
    p, f = batch_counts(padded), batch_counts(flat)
    assert (p[TOKENS_ALL], p[TOKENS_REAL], p[SAMPLES], p[TRAINED]) == (10, 8, 2, 5)
    assert (f[TOKENS_ALL], f[TOKENS_REAL], f[SAMPLES], f[TRAINED]) == (8, 8, 2, 5)


def test_counting_micro_batches_reads_no_value_back_from_the_device(monkeypatch):
    batches = [
        {
            "input_ids": torch.ones(2, 5, dtype=torch.long),
            "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
            "labels": torch.tensor([[-100, -100, 3, 4, 5], [-100, 7, 8, -100, -100]]),
        },
        {
            "input_ids": torch.ones(1, 8, dtype=torch.long),
            "cu_seq_lens_q": torch.tensor([0, 5, 8], dtype=torch.int32),
            "labels": torch.tensor([[-100, -100, 3, 4, 5, -100, 7, 8]]),
        },
    ]
    meter = ThroughputMeter()

    def refuse(*args, **kwargs):
        raise AssertionError("a device value was read back (a GPU sync per micro-batch)")

    with monkeypatch.context() as patch:
        for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
            patch.setattr(torch.Tensor, name, refuse)
        for batch in batches:
            meter.add(batch)
    # Read once, when the window is logged.
    counts, _, _ = meter.take_window()
    assert counts.tolist() == [18, 16, 4, 10]


def test_rates_report_padding_fraction_and_per_device_throughput():
    counts = torch.tensor([100.0, 80.0, 4.0, 20.0], dtype=torch.float64)
    rates = ThroughputMeter.rates(counts, seconds=2.0, steps=4, world_size=2)
    assert rates["perf/tokens_per_s"] == 40 and rates["perf/tokens_per_s_incl_padding"] == 50
    assert rates["perf/padding_fraction"] == pytest.approx(0.2)
    assert rates["perf/step_time_s"] == 0.5
    assert rates["perf/samples_per_s"] == 2 and rates["perf/tokens_per_s_per_device"] == 20
    assert rates["perf/samples_per_step"] == 1  # 4 samples over 4 optimizer steps


def test_trainer_keys_map_to_namespaced_wandb_keys():
    assert wandb_key("loss") == "train/loss"
    assert wandb_key("eval_loss") == "eval/loss"
    assert wandb_key("train_runtime") == "train/runtime"
    assert wandb_key("perf/tokens_per_s") == "perf/tokens_per_s"


class _Recorder:
    def __init__(self) -> None:
        self.rows: list[tuple[dict, int | None]] = []

    def log(self, row: dict, step: int | None = None) -> None:
        self.rows.append((row, step))


def test_tracker_callback_logs_on_the_main_process_only():
    from transformers import TrainerControl, TrainerState, TrainingArguments

    recorder = _Recorder()
    callback = TrackerCallback(recorder)  # type: ignore[arg-type]
    state = TrainerState()
    state.global_step = 3
    args = TrainingArguments(output_dir="unused", report_to="none", use_cpu=True)
    callback.on_log(args, state, TrainerControl(), logs={"loss": 1.5, "learning_rate": 2e-4})
    assert recorder.rows == [({"train/loss": 1.5, "train/learning_rate": 2e-4}, 3)]
    state.is_world_process_zero = False
    callback.on_log(args, state, TrainerControl(), logs={"loss": 1.0})
    assert len(recorder.rows) == 1


def test_the_generation_hook_is_the_target_built_with_its_keyword_arguments() -> None:
    cfg = compose_config(
        "train",
        "generation_eval.hook._target_=tests.sweeps.paced.hook",
        "+generation_eval.hook.seconds=0",
    )
    hook = generation_hook(cfg.generation_eval.hook, {"en": "unused"})
    assert hook is not None and hook(None, None)["paced_s"] == 0
    default = compose_config("train").generation_eval.hook
    assert generation_hook(default, {"en": "unused"}) is None


def test_a_generation_hook_target_that_cannot_be_imported_names_the_key() -> None:
    with pytest.raises(BioqwenError, match=r"generation_eval\.hook\._target_='nowhere\.hook'"):
        generation_hook({"_target_": "nowhere.hook"}, {})


def prompt_lengths(system_prompts: dict[str, str]) -> Any:
    """A hook factory taking the run's system prompts: its metrics are their lengths."""
    return lambda model, tokenizer: {k: float(len(text)) for k, text in system_prompts.items()}


def test_a_hook_factory_taking_system_prompts_gets_the_runs_own() -> None:
    cfg = compose_config(
        "train",
        f"generation_eval.hook._target_={__name__}.prompt_lengths",
        "data.system_prompts.en=four",
    )
    hook = generation_hook(cfg.generation_eval.hook, cfg.data.system_prompts)
    assert hook is not None and hook(None, None)["en"] == 4.0
    # A spec that sets its own keeps them.
    spec = {"_target_": f"{__name__}.prompt_lengths", "system_prompts": {"en": "xy"}}
    hook = generation_hook(spec, cfg.data.system_prompts)
    assert hook is not None and hook(None, None) == {"en": 2.0}
