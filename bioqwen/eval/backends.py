"""Generation backends: a batch of prompts and settings in, texts, token counts and time out.

One implementation per engine, all behind `Backend.generate_batch`: transformers (`hf`, the
default, needs nothing more), vLLM (`generation.backend=vllm`, GPU) and llama.cpp (a GGUF file,
`model.quantization=gguf-*`). vLLM and llama-cpp-python are optional: each is imported inside
its own backend only. Every backend seeds the batch with the seed it is handed
(`generate.batch_seed`), so one rule decides the randomness whatever runs the model. How the
model is found and loaded is bioqwen.eval.loading's business, not theirs.
"""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedTokenizerBase

from bioqwen.config import GenerationBackend
from bioqwen.errors import BioqwenError
from bioqwen.models import is_adapter_dir

# generation.backend; GGUF files run through llama.cpp on `hf`'s path
BACKENDS = tuple(backend.value for backend in GenerationBackend)


@dataclass
class BatchOutput:
    """One generated batch: a response and its new-token count per prompt, and the call's time."""

    texts: list[str]
    new_tokens: list[int]
    seconds: float


class Backend(ABC):
    """What generation needs from an engine (a base class, not a protocol: transformers models
    have a `generate_batch` of their own, with another meaning)."""

    # The model's own generation config (its extra stop tokens), None when it has none.
    generation_config: GenerationConfig | None = None

    @abstractmethod
    def generate_batch(
        self, prompts: Sequence[str], gen: GenerationConfig, seed: int
    ) -> BatchOutput:
        """Generate one response per prompt with `gen`'s stops and sampling, seeded by `seed`."""


def stop_ids(gen: GenerationConfig) -> set[int]:
    """The token ids a response ends at."""
    ids = gen.eos_token_id
    return set(ids if isinstance(ids, list | tuple) else [] if ids is None else [ids])


class HfBackend(Backend):
    """A transformers causal LM, generating left-padded batches."""

    def __init__(self, model: Any, tokenizer: PreTrainedTokenizerBase) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.generation_config = getattr(model, "generation_config", None)

    @torch.inference_mode()
    def generate_batch(
        self, prompts: Sequence[str], gen: GenerationConfig, seed: int
    ) -> BatchOutput:
        """One `generate()` call over the batch, cut at each response's first stop token."""
        model, tokenizer = self.model, self.tokenizer
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(model.device) for k, v in enc.items()}
        torch.manual_seed(seed)
        start = time.perf_counter()
        out = model.generate(**enc, generation_config=gen)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        stops = stop_ids(gen)
        texts, lengths = [], []
        for row in out[:, enc["input_ids"].shape[1] :].tolist():
            kept: list[int] = []
            for token in row:
                if token in stops:
                    break  # the response ends at its first end-of-turn; the rest is padding
                kept.append(token)
            texts.append(str(tokenizer.decode(kept, skip_special_tokens=True)).strip())
            lengths.append(len(kept))
        return BatchOutput(texts, lengths, elapsed)


def check(backend: str, source: str) -> None:
    """Fail early on a backend that cannot run here or cannot load `source` (an adapter)."""
    if backend not in BACKENDS:
        raise BioqwenError(f"generation.backend={backend!r}: expected one of {', '.join(BACKENDS)}")
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


class VllmBackend(Backend):
    """vLLM over a full or merged model directory or hub id (it schedules its own batches)."""

    device = "vllm"  # what the evaluate job logs as the device

    def __init__(self, source: str, dtype: str, trust_remote_code: bool) -> None:
        from vllm import LLM

        self.llm = LLM(
            model=source,
            dtype="auto" if dtype == "None" else dtype,
            trust_remote_code=trust_remote_code,
        )

    def generate_batch(
        self, prompts: Sequence[str], gen: GenerationConfig, seed: int
    ) -> BatchOutput:
        """One vLLM call over the batch with the HF settings translated."""
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=gen.max_new_tokens,
            min_tokens=gen.min_new_tokens or 0,
            # vLLM decodes greedily at temperature 0.
            temperature=float(gen.temperature) if gen.do_sample else 0.0,
            top_p=float(gen.top_p) if gen.do_sample else 1.0,
            top_k=int(gen.top_k) if gen.do_sample and gen.top_k else -1,  # HF samples top-50
            repetition_penalty=gen.repetition_penalty,
            stop_token_ids=sorted(stop_ids(gen)),
            seed=seed,
        )
        start = time.perf_counter()
        outputs = self.llm.generate(list(prompts), params, use_tqdm=False)
        elapsed = time.perf_counter() - start
        texts = [str(o.outputs[0].text).strip() for o in outputs]
        return BatchOutput(texts, [len(o.outputs[0].token_ids) for o in outputs], elapsed)


class GgufBackend(Backend):
    """A GGUF file behind llama-cpp-python, generating from HF-tokenized prompts one by one."""

    device = torch.device("cpu")

    def __init__(self, path: Path, tokenizer: PreTrainedTokenizerBase, n_ctx: int) -> None:
        from bioqwen.export import gguf  # imports llama_cpp when it loads the file

        self.path = path
        self.tokenizer = tokenizer
        self.llm = gguf.load(path, n_ctx=n_ctx)

    def generate_batch(
        self, prompts: Sequence[str], gen: GenerationConfig, seed: int
    ) -> BatchOutput:
        """One response per prompt with the generation config's stops and sampling settings."""
        stops = stop_ids(gen)
        sampling: dict[str, Any] = {"top_k": 1, "top_p": 1.0, "min_p": 0.0, "temp": 0.0}
        if gen.do_sample:
            sampling = {
                "top_k": int(gen.top_k or 0),
                "top_p": float(gen.top_p or 1.0),
                "min_p": 0.0,
                "temp": float(gen.temperature or 1.0),
            }
        self.llm.set_seed(seed)
        texts, lengths = [], []
        start = time.perf_counter()
        for prompt in prompts:
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            out: list[int] = []
            self.llm.reset()
            for token in self.llm.generate(
                ids, repeat_penalty=float(gen.repetition_penalty or 1.0), **sampling
            ):
                if token in stops:
                    break
                out.append(int(token))
                if len(out) == int(gen.max_new_tokens):
                    break
            texts.append(str(self.tokenizer.decode(out, skip_special_tokens=True)).strip())
            lengths.append(len(out))
        return BatchOutput(texts, lengths, time.perf_counter() - start)
