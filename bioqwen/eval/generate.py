"""Batched generation for evaluation, with the timings the paper reports.

Prompts are generated in batches with LEFT padding (right padding would put pad tokens between
a prompt and its continuation and distort the answers), sorted by length so a batch pads
little, and returned in the original order. Generation stops at `<|im_end|>` (and the model's
own end-of-turn tokens for non-ChatML baselines). The paper's "iteration time" is seconds per
sample generated one prompt at a time; throughput at the configured batch size is reported
next to it. The engine that runs a batch is a backend (bioqwen.eval.backends: transformers,
vLLM with `generation.backend=vllm`, llama.cpp for GGUF rows); loading is bioqwen.eval.loading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError
from transformers import PreTrainedTokenizerBase

from bioqwen.data.chatml import prompt_text
from bioqwen.eval.backends import Backend, HfBackend
from bioqwen.models import chat_generation_config


@dataclass
class Generation:
    """One response with its timing: the wall time of the call that produced it."""

    text: str
    latency_s: float
    batch_size: int
    new_tokens: int


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
    own = getattr(model, "generation_config", None)  # a vLLM or GGUF backend has none
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


def batch_seed(seed: int, position: int) -> int:
    """The seed of the batch at `position` (0-based, length-sorted order) for every backend.

    Batches get distinct seeds (one seed for all would make batches of equal prompts sample
    alike), and the same position the same seed in every run, resumed or not.
    """
    return seed + position


def as_backend(model: Any, tokenizer: PreTrainedTokenizerBase) -> Backend:
    """The backend a loaded model generates through: vLLM and GGUF models are backends already
    (bioqwen.eval.loading builds them); a transformers model (loaded, or in training) is wrapped."""
    return model if isinstance(model, Backend) else HfBackend(model, tokenizer)


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

    `model` is a transformers model or a backend (see `as_backend`); a batch of `batch_size`
    prompts is one backend call. `done` holds generations of an earlier, interrupted call by
    prompt index: a batch all of whose prompts are done is not generated again. `on_batch`
    receives each generated batch's new results. Batches depend only on the prompts, and every
    backend seeds a batch with `batch_seed`, so a resumed run generates the same batches with
    the same randomness.
    """
    tokenizer.padding_side = "left"
    batch_size = max(1, int(settings["batch_size"]))
    backend = as_backend(model, tokenizer)
    gen = generation_kwargs(backend, tokenizer, settings)["generation_config"]
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
        out = backend.generate_batch(chunk, gen, batch_seed(int(settings["seed"]), position))
        fresh: list[int] = []
        made: list[Generation] = []
        for i, text, n in zip(batch, out.texts, out.new_tokens, strict=True):
            if i not in done:
                made.append(Generation(text, out.seconds, len(batch), n))
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
