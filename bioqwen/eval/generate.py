"""Batched generation for evaluation, with the timings the paper reports.

Prompts are generated in batches with LEFT padding (right padding would put pad tokens between
a prompt and its continuation and distort the answers), sorted by length so a batch pads
little, and returned in the original order. Generation stops at `<|im_end|>` (and the model's
own end-of-turn tokens for non-ChatML baselines). The paper's "iteration time" is seconds per
sample generated one prompt at a time; throughput at the configured batch size is reported
next to it. `generation.backend=vllm` runs the same prompts and settings through vLLM where it
is installed (GPU); the default `hf` backend needs nothing beyond transformers.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jinja2 import TemplateError
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase

from bioqwen.data.chatml import prompt_text
from bioqwen.errors import BioqwenError
from bioqwen.eval import quantized
from bioqwen.models import chat_generation_config, quiet_loading, resolve_model, tokenizer_for

# Where a training run directory keeps its model, in order of preference.
RUN_MODEL_DIRS = ("merged", "adapter")


@dataclass
class Generation:
    """One response with its timing: the wall time of the call that produced it."""

    text: str
    latency_s: float
    batch_size: int
    new_tokens: int


def model_source(model_cfg: Mapping[str, Any]) -> str:
    """Directory or hub id to load: `model.path` (model dir or training run dir) wins.

    A training run directory holds its model in `merged/` (merged adapter or full fine-tuning)
    or only in `adapter/` (merge=false); an adapter directory (adapter_config.json) is loaded
    on its base model through PEFT.
    """
    path = model_cfg["path"]
    if not path:
        return resolve_model(model_cfg)
    root = Path(str(path)).expanduser()
    for candidate in (root, *(root / sub for sub in RUN_MODEL_DIRS)):
        if (candidate / "config.json").exists() or (candidate / "adapter_config.json").exists():
            return str(candidate)
    raise BioqwenError(
        f"model.path={root}: no config.json or adapter_config.json there or in "
        + ", ".join(f"{sub}/" for sub in RUN_MODEL_DIRS)
    )


def check_model_dir(source: str) -> None:
    """A local model or adapter directory's manifest must be a JSON object (named if not)."""
    for name in ("config.json", "adapter_config.json"):
        manifest = Path(source) / name
        if not manifest.is_file():
            continue
        try:
            loaded = json.loads(manifest.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BioqwenError(f"{manifest}: not a model manifest (malformed JSON: {err})") from err
        if not isinstance(loaded, dict):
            raise BioqwenError(f"{manifest}: not a model manifest (expected a JSON object)")
        if name == "adapter_config.json" and "base_model_name_or_path" not in loaded:
            raise BioqwenError(f"{manifest}: key base_model_name_or_path missing (adapter base)")


def is_adapter_dir(source: str) -> bool:
    """Whether source is a PEFT adapter directory (adapter_config.json, no full model)."""
    path = Path(source)
    return (path / "adapter_config.json").exists() and not (path / "config.json").exists()


def pick_device(device: str) -> str:
    """`auto` -> cuda when available, else cpu; anything else as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _dtype(name: str, device: str) -> Any:
    if name in ("auto", "None", ""):
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def load_for_generation(
    model_cfg: Mapping[str, Any], device: str = "auto", backend: str = "hf"
) -> tuple[Any, PreTrainedTokenizerBase]:
    """Load a causal LM (full, merged or adapter) and its left-padding tokenizer, in eval mode.

    backend=vllm returns a `vllm.LLM` instead (GPU; vLLM installed; full or merged models only).
    """
    source = model_source(model_cfg)
    check_backend(backend, source)
    if quantized.quantization_of(model_cfg) != "none":  # INT4/INT8 rows (paper Table 3)
        quantized.check(model_cfg, source, backend)
        tokenizer = tokenizer_for(model_cfg, source)
        return quantized.load(model_cfg, source, pick_device(device), tokenizer), tokenizer
    if backend == "vllm":
        return _load_vllm(model_cfg, source), tokenizer_for(model_cfg, source)
    device = pick_device(device)
    kwargs: dict[str, Any] = {
        "dtype": _dtype(str(model_cfg["torch_dtype"]), device),
        "trust_remote_code": bool(model_cfg["trust_remote_code"]),
    }
    attn = str(model_cfg["attn_implementation"])
    if attn != "auto":
        kwargs["attn_implementation"] = attn
    try:
        with quiet_loading():
            if is_adapter_dir(source):
                from peft import AutoPeftModelForCausalLM

                model = AutoPeftModelForCausalLM.from_pretrained(source, **kwargs)
            else:
                model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as err:
        raise BioqwenError(f"model {source!r} could not be loaded: {err}") from err
    tokenizer = tokenizer_for(model_cfg, source)
    if tokenizer.pad_token_id >= model.get_input_embeddings().weight.shape[0]:
        # A pad token added for a baseline without one (Llama-3.2, SmolLM2) has no embedding.
        # Generation masks left padding and cuts responses at the first end token, so the end
        # token can pad instead of growing the model with an untrained, predictable row.
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            model.resize_token_embeddings(len(tokenizer))
    model.to(device)
    model.eval()
    return model, tokenizer


def check_backend(backend: str, source: str) -> None:
    """Fail early on a backend that cannot run here or cannot load `source`."""
    if backend not in ("hf", "vllm"):
        raise BioqwenError(f"generation.backend={backend!r}: expected hf or vllm")
    if backend == "hf":
        return
    if importlib.util.find_spec("vllm") is None:
        raise BioqwenError(
            "generation.backend=vllm: the vllm package is not installed (it needs a CUDA "
            "machine); use generation.backend=hf"
        )
    if is_adapter_dir(source):
        raise BioqwenError(
            f"generation.backend=vllm: {source} is an adapter; evaluate its merged model"
        )


def _load_vllm(model_cfg: Mapping[str, Any], source: str) -> Any:
    from vllm import LLM

    dtype = str(model_cfg["torch_dtype"])
    return LLM(
        model=source,
        dtype="auto" if dtype == "None" else dtype,
        trust_remote_code=bool(model_cfg["trust_remote_code"]),
    )


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Mapping[str, str]]) -> str:
    """The prompt in the model's own chat template (ChatML when it has none).

    A template that rejects system turns (Gemma-2) gets the system prompt folded into the user
    turn instead.
    """
    turns = [dict(m) for m in messages]
    if not tokenizer.chat_template:
        return prompt_text(turns)
    try:
        return str(tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True))
    except TemplateError:  # raised by templates that forbid a system turn
        if turns and turns[0]["role"] == "system" and len(turns) > 1:
            merged = [
                {"role": "user", "content": turns[0]["content"] + "\n\n" + turns[1]["content"]}
            ]
            text = tokenizer.apply_chat_template(
                merged + turns[2:], tokenize=False, add_generation_prompt=True
            )
            return str(text)
        raise


def generation_kwargs(
    model: Any, tokenizer: PreTrainedTokenizerBase, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """generate() arguments: chat stop tokens, pad, greedy or the configured sampling."""
    gen = chat_generation_config(tokenizer)
    stops = [int(i) for i in _as_list(gen.eos_token_id)]
    own = getattr(model, "generation_config", None)  # a vllm.LLM has none: it reads its own
    stops += [int(i) for i in _as_list(getattr(own, "eos_token_id", None))]
    if tokenizer.eos_token_id is not None:
        stops.append(int(tokenizer.eos_token_id))
    gen.eos_token_id = list(dict.fromkeys(stops))
    gen.max_new_tokens = int(settings["max_new_tokens"])
    gen.min_new_tokens = int(settings["min_new_tokens"]) or None
    gen.repetition_penalty = float(settings["repetition_penalty"])
    gen.do_sample = bool(settings["do_sample"])
    if gen.do_sample:
        gen.temperature = float(settings["temperature"])
        gen.top_p = float(settings["top_p"])
    else:
        gen.temperature, gen.top_p, gen.top_k = None, None, None
    return {"generation_config": gen}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@torch.inference_mode()
def _generate_batch(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    kwargs: Mapping[str, Any],
) -> tuple[list[str], list[int], float]:
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    enc = {k: v.to(model.device) for k, v in enc.items()}
    start = time.perf_counter()
    out = model.generate(**enc, **kwargs)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    new = out[:, enc["input_ids"].shape[1] :]
    stops = set(_as_list(kwargs["generation_config"].eos_token_id))
    texts, lengths = [], []
    for row in new.tolist():
        kept: list[int] = []
        for token in row:
            if token in stops:
                break  # the response ends at its first end-of-turn; the rest is padding
            kept.append(token)
        texts.append(str(tokenizer.decode(kept, skip_special_tokens=True)).strip())
        lengths.append(len(kept))
    return texts, lengths, elapsed


def _generate_vllm(
    llm: Any,
    prompts: Sequence[str],
    gen: Any,
    seed: int,
) -> tuple[list[str], list[int], float]:
    """One vLLM call over all prompts (it schedules its own batches), with the HF settings."""
    from vllm import SamplingParams

    params = SamplingParams(
        max_tokens=gen.max_new_tokens,
        min_tokens=gen.min_new_tokens or 0,
        # vLLM decodes greedily at temperature 0.
        temperature=float(gen.temperature) if gen.do_sample else 0.0,
        top_p=float(gen.top_p) if gen.do_sample else 1.0,
        top_k=int(gen.top_k) if gen.do_sample and gen.top_k else -1,  # HF samples top-50
        repetition_penalty=gen.repetition_penalty,
        stop_token_ids=list(gen.eos_token_id),
        seed=seed,
    )
    start = time.perf_counter()
    outputs = llm.generate(list(prompts), params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    texts = [str(o.outputs[0].text).strip() for o in outputs]
    return texts, [len(o.outputs[0].token_ids) for o in outputs], elapsed


def batch_seed(seed: int, position: int) -> int:
    """The seed of the batch at `position` (0-based, length-sorted order) for every backend.

    Batches get distinct seeds (one seed for all would make batches of equal prompts sample
    alike), and the same position the same seed in every run, resumed or not.
    """
    return seed + position


def generate(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    settings: Mapping[str, Any],
    progress: bool = True,
    done: Mapping[int, Generation] | None = None,
    on_batch: Callable[[list[int], list[Generation]], None] | None = None,
) -> list[Generation]:
    """Generate a response per prompt in length-sorted, left-padded batches (input order kept).

    With backend=vllm (`model` is a vllm.LLM) a batch of `batch_size` prompts is one vLLM call.
    `done` holds generations of an earlier, interrupted call by prompt index: a batch all of
    whose prompts are done is not generated again. `on_batch` receives each generated batch's
    new results. Batches depend only on the prompts, and every backend seeds a batch with
    `batch_seed`, so a resumed run generates the same batches with the same randomness.
    """
    tokenizer.padding_side = "left"
    batch_size = max(1, int(settings["batch_size"]))
    vllm = settings["backend"] == "vllm"
    kwargs = generation_kwargs(model, tokenizer, settings)
    done = done or {}
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i], reverse=True)
    results: list[Generation | None] = [done.get(i) for i in range(len(prompts))]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    todo = [(k, b) for k, b in enumerate(batches) if any(i not in done for i in b)]
    iterator: Any = todo
    if progress and len(todo) > 1:
        from tqdm import tqdm

        iterator = tqdm(todo, desc="generate", unit="batch")
    for position, batch in iterator:
        chunk = [prompts[i] for i in batch]
        seed = batch_seed(int(settings["seed"]), position)
        if vllm:
            texts, new_tokens, elapsed = _generate_vllm(
                model, chunk, kwargs["generation_config"], seed
            )
        elif isinstance(model, quantized.GgufModel):
            texts, new_tokens, elapsed = model.generate_texts(
                chunk, kwargs["generation_config"], seed
            )
        else:
            torch.manual_seed(seed)
            texts, new_tokens, elapsed = _generate_batch(model, tokenizer, chunk, kwargs)
        fresh: list[int] = []
        made: list[Generation] = []
        for i, text, n in zip(batch, texts, new_tokens, strict=True):
            if i not in done:
                made.append(Generation(text, elapsed, len(batch), n))
                fresh.append(i)
                results[i] = made[-1]
        if on_batch is not None:
            on_batch(fresh, made)
    return [r for r in results if r is not None]


def timing_summary(
    generations: Sequence[Generation], batch1_latencies: Sequence[float], wall_s: float
) -> dict[str, float]:
    """Iteration time (mean s/sample at batch 1) and throughput at the configured batch size."""
    n = len(generations)
    tokens = sum(g.new_tokens for g in generations)
    metrics = {
        "generation_wall_s": wall_s,
        "throughput_samples_per_s": n / wall_s if wall_s > 0 else 0.0,
        "throughput_tokens_per_s": tokens / wall_s if wall_s > 0 else 0.0,
        "mean_new_tokens": tokens / n if n else 0.0,
        "generation_batch_size": float(max((g.batch_size for g in generations), default=0)),
    }
    if batch1_latencies:
        metrics["iteration_time_s"] = sum(batch1_latencies) / len(batch1_latencies)
        metrics["iteration_time_samples"] = float(len(batch1_latencies))
    return metrics


def iteration_times(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    settings: Mapping[str, Any],
) -> list[float]:
    """Seconds per prompt generated one at a time (the authors' loop), for iteration time."""
    single = {**settings, "batch_size": 1}
    return [g.latency_s for g in generate(model, tokenizer, prompts, single, progress=False)]
