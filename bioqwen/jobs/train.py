"""`bioqwen train`: one training stage (paper section 2.5) of model x stage x method x mix.

Everything a user can get wrong (stage-2 parent, resume checkpoint, data that trains nothing,
bad LoRA or schedule values) is checked before the run directory gets any artefact; the
adapter, merged model, metrics.json and lineage.json are each written atomically at the end.
Under `accelerate launch`/`torchrun` every process runs this job; rank 0's run directory is
shared and only rank 0 writes artefacts or talks to W&B (bioqwen.train.distributed).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen import artifacts, tracking
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import Run, job_main, open_run, plain, run_dir
from bioqwen.runs import ADAPTER_DIR, MERGED_DIR
from bioqwen.sweeps import preemption

log = logging.getLogger("bioqwen.train")


@contextlib.contextmanager
def _run_context(
    cfg: DictConfig,
    directory: Path,
    is_main: bool,
    labels: tuple[str, str, list[str]],
    original_config: str | None,
) -> Iterator[Run]:
    """Rank 0 opens the tracked run (a resumed one keeps its original config.yaml); the other
    ranks get an untracked handle on the same directory."""
    from bioqwen.train.resume import keep_original_config

    if not is_main:
        yield Run(directory, cfg, tracking.Tracker(None), "train")
        return
    name, group, tags = labels
    with open_run(cfg, "train", name=name, group=group, tags=tags, resume=bool(cfg.resume)) as run:
        if original_config is not None:
            keep_original_config(directory, original_config)
        yield run


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one training stage and return its summary metrics."""
    from transformers import set_seed

    from bioqwen.models import resolve_model, tokenizer_for
    from bioqwen.sweeps import search_pruning
    from bioqwen.train import callbacks as cbs
    from bioqwen.train import data as training_data
    from bioqwen.train import merge as merging
    from bioqwen.train import model as loading
    from bioqwen.train import trainer as sft
    from bioqwen.train.bins import plan_batches
    from bioqwen.train.distributed import process_state, shared_run_dir
    from bioqwen.train.resume import resume_point
    from bioqwen.train.stages import plan_init, stage_inputs
    from bioqwen.train.summary import lineage_entries, log_artifacts, run_labels, summarize

    directory = shared_run_dir(run_dir())
    state = process_state()
    is_main = state.is_main_process
    model_cfg, stage, method = plain(cfg.model), plain(cfg.stage), plain(cfg.method)

    # --- everything a user can get wrong, before any artefact is written -----------------
    world, seed = state.num_processes, int(cfg.seed)
    sft.check_stage(stage, world)
    loading.check_method(method)
    precision = loading.resolve_precision(str(stage["precision"]))
    resume_from, original_config = resume_point(directory, cfg)
    hook = cbs.generation_hook(plain(cfg.generation_eval.hook), plain(cfg.data.system_prompts))
    deepspeed = str(cfg.deepspeed_config) if cfg.deepspeed_config else None
    if deepspeed and not Path(deepspeed).is_file():
        raise BioqwenError(f"deepspeed_config={deepspeed}: no such file")
    model_source = resolve_model(cfg.model)
    plan = plan_init(stage, method, str(model_cfg["name"]), model_source, directory)
    tokenizer = tokenizer_for(cfg.model, plan.tokenizer_source)
    with state.main_process_first():
        data, data_info = training_data.load_data(cfg.data_dir, cfg.data, seed)
        tokenized = training_data.tokenize_for_training(
            data,
            tokenizer,
            int(stage["max_length"]),
            cfg.max_train_samples,
            cfg.max_eval_samples,
            num_proc=int(cfg.data.num_proc),
        )
        batches = plan_batches(stage, tokenized.train, world)  # packed: the bins, sized
    log.info("train %s", {k: v for k, v in tokenized.stats.items() if k.startswith("data/train")})

    # --- the run ------------------------------------------------------------------------------
    remote_code = bool(model_cfg["trust_remote_code"])
    labels = run_labels(cfg, str(data_info["mix"]))
    inputs = stage_inputs(plan, model_cfg, model_source)
    with _run_context(cfg, directory, is_main, labels, original_config) as job:
        linked = artifacts.declare_inputs(job.tracker, inputs)  # online: W&B lineage graph
        if plan.pending_merge is not None and plan.parent is not None:
            init_model = Path(plan.base_source)
            if is_main and not (init_model / "config.json").exists():
                merging.merge_to_dir(
                    plan.parent.adapter_base, plan.pending_merge, tokenizer, init_model, remote_code
                )
            state.wait_for_everyone()
        set_seed(seed)
        model = loading.load_for_training(
            plan.base_source, plan.continue_adapter, model_cfg, method, tokenizer, precision
        )
        has_eval, out = tokenized.validation is not None, directory / sft.CHECKPOINTS
        args = sft.sft_config(
            stage, method, out, seed, precision, has_eval, deepspeed, world, batches.accumulation
        )
        tracker_cb = cbs.TrackerCallback(job.tracker)
        callbacks: list[Any] = [tracker_cb, *cbs.early_stopping(stage, has_eval)]
        callbacks += search_pruning.callbacks()  # an Optuna search's pruner (bioqwen search)
        callbacks += preemption.callbacks()  # a SLURM point: checkpoint on the time-limit signal
        if hook is not None:
            every = int(cfg.generation_eval.every_steps)
            callbacks.append(cbs.GenerationMetricsCallback(hook, tokenizer, every, job.tracker))
        splits, metrics = (batches.train, tokenized.validation), bool(stage["token_metrics"])
        trainer = sft.build_trainer(model, tokenizer, *splits, args, callbacks, metrics)
        trainer.eval_by_task = tokenized.validation_by_task  # eval/<task>_loss rows
        result = trainer.train(resume_from_checkpoint=resume_from)
        eval_metrics = trainer.evaluate() if has_eval else {}
        logged = {k: v for cb in callbacks for k, v in getattr(cb, "last", {}).items()}
        stats = {**tokenized.stats, **batches.metrics()}
        summary = summarize(trainer, result, stats, eval_metrics, logged, precision)

        full = method["name"] == "full"
        merging.save_trained(trainer, tokenizer, directory, full, is_main)
        del trainer, model
        merging.free_memory()
        merged = full or bool(cfg.merge)
        if is_main and cfg.merge and not full:
            adapter, merged_dir = directory / ADAPTER_DIR, directory / MERGED_DIR
            merging.merge_to_dir(plan.base_source, adapter, tokenizer, merged_dir, remote_code)
        if is_main:
            model_entry = {"name": model_cfg["name"], "revision": model_cfg["revision"]}
            model_entry["source"] = model_source
            entries = lineage_entries(
                plan, stage, method["name"], model_entry, data_info, resume_from, merged
            )
            refs = log_artifacts(job.tracker, directory, labels[0], entries, summary, inputs)
            wandb = artifacts.wandb_entry(job.tracker, inputs, linked, refs)
            job.lineage(run=str(directory.resolve()), **entries, wandb=wandb)
            job.finish(summary)
    state.wait_for_everyone()
    return summary


main = job_main("train", run)
