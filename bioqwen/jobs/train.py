"""`bioqwen train`: one training stage (paper section 2.5) of model x stage x method x mix.

Everything a user can get wrong (stage-2 parent, resume checkpoint, data that trains nothing,
unknown settings) is checked before the run directory gets any artefact; the adapter, merged
model, metrics.json and lineage.json are each written atomically at the end. Under
`accelerate launch`/`torchrun` every process runs this job; rank 0's run directory is shared
and only rank 0 writes artefacts or talks to W&B.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

import bioqwen.config  # noqa: F401  (registers the schemas)
from bioqwen import tracking
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import CONF_DIR, Run, job_main, open_run, plain, run_dir
from bioqwen.runs import read_json, stable_hash, write_lineage

log = logging.getLogger("bioqwen.train")

INIT_MODEL = "init_model"


def run_labels(cfg: DictConfig, mix: str) -> tuple[str, str, list[str]]:
    """W&B name, group and tags from model, stage, method, mix, learning rate and LoRA r."""
    lora = cfg.method.get("lora")
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


def process_state() -> Any:
    """Accelerate's process state, set up as the Trainer will (gloo on CPU, nccl on CUDA)."""
    import torch
    from accelerate import PartialState

    # Without cpu=True accelerate does not treat torchrun's CPU processes as distributed.
    return PartialState(cpu=not torch.cuda.is_available())


def shared_run_dir(local: Path) -> Path:
    """Rank 0's run directory for every process (Hydra's timestamps differ per process)."""
    import torch.distributed as dist

    state = process_state()
    if state.num_processes == 1:
        return local
    holder = [str(local)]
    dist.broadcast_object_list(holder, src=0)
    shared = Path(holder[0])
    if shared.resolve() != local.resolve():
        # This process's own Hydra directory holds only its .hydra/ and log: drop it.
        leftovers = [p for p in local.iterdir() if p.name != ".hydra" and p.suffix != ".log"]
        if not leftovers:
            shutil.rmtree(local, ignore_errors=True)
    return shared


def load_generation_hook(cfg: DictConfig) -> Callable[[Any, Any], Any] | None:
    """Build the optional generation-metric callable named by generation_eval.target."""
    target = cfg.generation_eval.target
    if not target:
        return None
    module_name, _, attr = str(target).partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise BioqwenError(f"generation_eval.target={target!r}: {err}") from err
    hook: Callable[[Any, Any], Any] = factory(**plain(cfg.generation_eval.options))
    return hook


def benchmark_metrics(
    benchmark: str, limit: int = 8, max_new_tokens: int = 64, batch_size: int = 8
) -> Callable[[Any, Any], dict[str, float]]:
    """A generation-metric hook: the model in training scored on a benchmark's first `limit`
    items as `bioqwen evaluate` would (greedy). Use it with
    `generation_eval.target=bioqwen.jobs.train:benchmark_metrics`
    `+generation_eval.options.benchmark=ncbi`.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from bioqwen.eval.gold import load_benchmark
    from bioqwen.eval.runner import evaluate_model

    overrides = [
        f"benchmark={benchmark}",
        f"benchmark.limit={limit}",
        f"generation.max_new_tokens={max_new_tokens}",
        f"generation.batch_size={batch_size}",
        "generation.iteration_time_samples=0",  # no batch-1 timing pass during training
    ]
    if GlobalHydra.instance().is_initialized():  # inside the train app: its search path
        cfg = compose("evaluate", overrides=overrides)
    else:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("evaluate", overrides=overrides)
    bench_cfg, settings = plain(cfg.benchmark), plain(cfg.generation)
    bench = load_benchmark(bench_cfg)  # read once, scored at every call

    def hook(model: Any, tokenizer: Any) -> dict[str, float]:
        result = evaluate_model(model, tokenizer, bench_cfg, settings, progress=False, bench=bench)
        return {k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}

    return hook


def load_data(cfg: DictConfig) -> tuple[Any, dict[str, Any]]:
    """The prepared mix (an existing data_dir, or prepare it now) and its lineage entry."""
    from bioqwen.train.data import find_dataset_dir, load_prepared

    if cfg.data_dir:
        directory = find_dataset_dir(str(cfg.data_dir))
        data = load_prepared(directory)
        info = {"path": str(directory.resolve())}
        card = directory.parent / "data_card.json"
        if card.is_file():
            # A prepare cache entry: its content hash and mix name, as the prepare run recorded.
            prepared = read_json(card)
            return data, {**info, "hash": prepared["hash"], "mix": prepared["mix"]}
        fingerprint = {name: (split._fingerprint, len(split)) for name, split in data.items()}
        return data, {**info, "hash": stable_hash(fingerprint), "mix": directory.name}
    try:
        from bioqwen.data.pipeline import prepare  # type: ignore[import-not-found,unused-ignore]
    except ImportError as err:
        raise BioqwenError(
            f"cannot prepare data/mix={cfg.data.mix.name} ({err}); pass data_dir=<prepared dataset>"
        ) from err
    prepared = prepare(cfg.data, seed=int(cfg.seed))
    data = load_prepared(prepared.path)
    return data, {"path": str(prepared.path), "hash": prepared.hash, "mix": cfg.data.mix.name}


@contextlib.contextmanager
def _run_context(cfg: DictConfig, directory: Path, is_main: bool, mix: str) -> Iterator[Run]:
    if not is_main:
        yield Run(directory, cfg, tracking.Tracker(None), "train")
        return
    name, group, tags = run_labels(cfg, mix)
    with open_run(cfg, "train", name=name, group=group, tags=tags, resume=bool(cfg.resume)) as run:
        yield run


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training stage and return its summary metrics."""
    import torch
    from transformers import set_seed

    from bioqwen.models import resolve_model, tokenizer_for
    from bioqwen.train import merge as merging
    from bioqwen.train.callbacks import GenerationMetricsCallback, TrackerCallback
    from bioqwen.train.data import tokenize_for_training
    from bioqwen.train.model import (
        add_adapter,
        count_4bit_layers,
        count_parameters,
        load_adapter,
        load_base,
        resolve_precision,
    )
    from bioqwen.train.stages import read_parent
    from bioqwen.train.trainer import (
        CHECKPOINTS,
        build_trainer,
        check_stage,
        newest_checkpoint,
        sft_config,
    )

    directory = shared_run_dir(run_dir())
    state = process_state()
    is_main = state.is_main_process
    model_cfg, stage, method = (
        plain(cfg.model),
        plain(cfg.stage),
        plain(cfg.method),
    )

    # --- everything a user can get wrong, before any artefact is written -----------------
    check_stage(stage)
    precision = resolve_precision(str(stage["precision"]))
    resume_from = newest_checkpoint(directory) if cfg.resume else None
    if stage["init_mode"] == "continue" and not method.get("lora"):
        raise BioqwenError(
            f"stage.init_mode=continue needs an adapter method, not method={method['name']}"
        )
    parent = None
    if stage["requires_init"] or stage["init_from"]:
        parent = read_parent(stage["init_from"], str(model_cfg["name"]), str(stage["name"]))
        if stage["init_mode"] == "continue" and parent.adapter_dir is None:
            raise BioqwenError(f"stage.init_mode=continue: {parent.dir} has no adapter to continue")
    hook = load_generation_hook(cfg)
    deepspeed = str(cfg.deepspeed_config) if cfg.deepspeed_config else None
    if deepspeed and not Path(deepspeed).is_file():
        raise BioqwenError(f"deepspeed_config={deepspeed}: no such file")
    model_source = resolve_model(cfg.model)
    continue_adapter: Path | None = None
    pending_merge: Path | None = None  # the parent adapter still to fold into its base
    if parent is None:
        base_source = model_source
    elif stage["init_mode"] == "continue":
        base_source, continue_adapter = parent.adapter_base, parent.adapter_dir
    elif parent.merged_dir is not None:
        base_source = str(parent.merged_dir)
    else:
        base_source, pending_merge = str(directory / INIT_MODEL), parent.adapter_dir
    # The merged stage-1 model does not exist yet; its base carries the same tokenizer.
    tokenizer = tokenizer_for(
        cfg.model, parent.adapter_base if pending_merge and parent else base_source
    )
    with state.main_process_first():
        data, data_info = load_data(cfg)
        tokenized = tokenize_for_training(
            data,
            tokenizer,
            int(stage["max_length"]),
            cfg.max_train_samples,
            cfg.max_eval_samples,
            num_proc=int(cfg.data.num_proc),
        )
    log.info("train %s", {k: v for k, v in tokenized.stats.items() if k.startswith("data/train")})

    # --- the run ------------------------------------------------------------------------------
    with _run_context(cfg, directory, is_main, str(data_info["mix"])) as run:
        if pending_merge is not None and parent is not None:
            if is_main and not (directory / INIT_MODEL / "config.json").exists():
                merging.merge_to_dir(
                    parent.adapter_base,
                    pending_merge,
                    tokenizer,
                    directory / INIT_MODEL,
                    bool(model_cfg.get("trust_remote_code")),
                )
            state.wait_for_everyone()
        set_seed(int(cfg.seed))
        model = load_base(base_source, model_cfg, method, tokenizer, precision)
        if continue_adapter is not None:
            model = load_adapter(model, str(continue_adapter), method)
        elif method["name"] != "full":
            model = add_adapter(model, method)
        trainable, total = count_parameters(model)
        args = sft_config(
            stage,
            method,
            directory / CHECKPOINTS,
            int(cfg.seed),
            precision,
            has_eval=tokenized.validation is not None,
            deepspeed=deepspeed,
        )
        tracker_cb = TrackerCallback(run.tracker)
        callbacks: list[Any] = [tracker_cb]
        gen_cb = None
        if hook is not None:
            gen_cb = GenerationMetricsCallback(
                hook, tokenizer, int(cfg.generation_eval.every_steps), run.tracker
            )
            callbacks.append(gen_cb)
        trainer = build_trainer(
            model, tokenizer, tokenized.train, tokenized.validation, args, callbacks
        )
        result = trainer.train(resume_from_checkpoint=resume_from)
        eval_metrics = trainer.evaluate() if tokenized.validation is not None else {}
        world = trainer.accelerator.num_processes
        summary: dict[str, Any] = {
            **tokenized.stats,
            "train/loss": float(result.training_loss),
            "train/global_step": int(trainer.state.global_step),
            "train/epoch": float(trainer.state.epoch or 0.0),
            "train/runtime_s": float(result.metrics.get("train_runtime", 0.0)),
            "model/trainable_params": trainable,
            "model/total_params": total,
            "model/trainable_fraction": trainable / max(total, 1),
            "model/quantized_4bit_layers": count_4bit_layers(model),
            "batch/world_size": world,
            "batch/effective_size": int(stage["per_device_batch_size"])
            * int(stage["gradient_accumulation_steps"])
            * world,
            "batch/total_steps": int(trainer.state.max_steps),
            "batch/warmup_steps": int(args.get_warmup_steps(trainer.state.max_steps)),
            "precision": precision,
            "attn_implementation": str(model.config._attn_implementation),
        }
        if "eval_loss" in eval_metrics:
            summary["eval/loss"] = float(eval_metrics["eval_loss"])
        summary.update({k: v for k, v in tracker_cb.last.items() if k.startswith("perf/run_")})
        if "train/loss" in tracker_cb.last:
            # The paper's target (training loss < 1) is about the end of training, not the mean.
            summary["train/final_loss"] = tracker_cb.last["train/loss"]
        if gen_cb is not None:
            summary.update(gen_cb.last)

        trainer.accelerator.wait_for_everyone()
        final_model = trainer.accelerator.unwrap_model(trainer.model)
        if is_main:
            if method["name"] == "full":
                merging.save_model_dir(final_model, tokenizer, directory / merging.MERGED)
            else:
                merging.save_adapter(final_model, tokenizer, directory / merging.ADAPTER)
        del trainer, model, final_model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        merged = method["name"] == "full"
        if is_main and cfg.merge and method["name"] != "full":
            merging.merge_to_dir(
                base_source,
                directory / merging.ADAPTER,
                tokenizer,
                directory / merging.MERGED,
                bool(model_cfg.get("trust_remote_code")),
            )
            merged = True
        if is_main:
            write_lineage(
                directory,
                job="train",
                run=str(directory.resolve()),
                stage=stage["name"],
                method=method["name"],
                model={"name": model_cfg["name"], "source": model_source},
                adapter_base=base_source,
                init_from=str(parent.dir) if parent else None,
                init_mode=stage["init_mode"] if parent else None,
                parents=[
                    {
                        "run": str(parent.dir),
                        "job": "train",
                        "stage": parent.lineage.get("stage"),
                        "data": parent.lineage.get("data"),
                    }
                ]
                if parent
                else [],
                data=data_info,
                resumed_from=resume_from,
                artefacts={
                    "adapter": None if method["name"] == "full" else merging.ADAPTER,
                    "merged": merging.MERGED if merged else None,
                    "checkpoints": CHECKPOINTS,
                },
            )
            run.finish(summary)
    state.wait_for_everyone()
    return summary


main = job_main("train", train)
