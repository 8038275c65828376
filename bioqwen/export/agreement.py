"""Does a GGUF file generate what the HF model generates? Greedy tokens, logits, speed.

Both sides get the same prompt token ids (the HF tokenizer's), so a difference is the
weights' precision, not tokenization; `tokenization_matches` checks llama.cpp's own tokenizer
separately, since a deployed GGUF tokenizes by itself. Measures, per GGUF file:

- `greedy_match`: share of prompts whose greedy continuation is token-identical;
- `prefix_agreement`: mean share of the HF continuation that llama.cpp reproduces before the
  first differing token (1.0 = identical);
- `max_logit_diff`: largest absolute difference of the next-token logits after the prompt;
- `tokens_per_s`: llama.cpp generation speed on these prompts (prompt evaluation included).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bioqwen.data.chatml import prompt_text


@dataclass
class Reference:
    """The HF model's greedy continuations and next-token logits for each prompt."""

    prompts: list[list[int]]
    continuations: list[list[int]]
    logits: list[np.ndarray]
    tokens_per_s: float


def chat_prompts(system_prompts: dict[str, str], questions: Sequence[dict[str, str]]) -> list[str]:
    """ChatML prompts: each question with the system prompt of its language."""
    return [
        prompt_text(
            [
                {"role": "system", "content": system_prompts[q["lang"]]},
                {"role": "user", "content": q["text"]},
            ]
        )
        for q in questions
    ]


def _cut(tokens: Sequence[int], stops: set[int]) -> list[int]:
    out: list[int] = []
    for token in tokens:
        if token in stops:
            break
        out.append(int(token))
    return out


def hf_greedy(
    model: Any,
    prompt: Sequence[int],
    max_new_tokens: int,
    stops: Sequence[int] = (),
    exact: bool = False,
) -> tuple[list[int], float]:
    """A HF model's greedy new tokens for prompt ids (stop token included) and the seconds.

    `exact` generates exactly max_new_tokens (no early stop), for speed measurements.
    """
    import torch

    inputs = torch.tensor([list(prompt)])
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens if exact else None,
            do_sample=False,
            eos_token_id=list(stops) or None,
            pad_token_id=model.config.pad_token_id,
        )
    return out[0, len(prompt) :].tolist(), time.perf_counter() - start


def hf_reference(
    model_dir: Path, prompts: Sequence[str], max_new_tokens: int, stops: Sequence[int]
) -> Reference:
    """Greedy continuations and next-token logits of the HF model in fp32, one prompt at a time."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = [list(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    continuations, logits = [], []
    generated, elapsed = 0, 0.0
    for prompt in ids:
        with torch.inference_mode():
            logits.append(model(torch.tensor([prompt])).logits[0, -1].float().numpy())
        new, seconds = hf_greedy(model, prompt, max_new_tokens, stops)
        elapsed += seconds
        generated += len(new)
        continuations.append(_cut(new, set(stops)))
    return Reference(ids, continuations, logits, generated / elapsed if elapsed else 0.0)


def llama_greedy(
    llm: Any, prompt: Sequence[int], max_new_tokens: int, stops: set[int]
) -> list[int]:
    """Greedy continuation from llama.cpp for prompt token ids (stop token excluded)."""
    out: list[int] = []
    # temp 0 is llama.cpp's greedy sampler; no penalties, so it is plain argmax.
    llm.reset()  # no KV-cache reuse from the previous prompt: every prompt pays its prefill
    for token in llm.generate(list(prompt), top_k=1, top_p=1.0, min_p=0.0, temp=0.0):
        if token in stops:
            break
        out.append(int(token))
        if len(out) == max_new_tokens:
            break  # before the generator decodes one token more
    return out


def llama_next_logits(llm: Any, prompt: Sequence[int]) -> np.ndarray:
    """llama.cpp's next-token logits after the prompt (its last decoded row)."""
    import llama_cpp

    llm.reset()
    llm.eval(list(prompt))
    # Without logits_all, llama-cpp-python keeps no logits in `scores`; read llama.cpp's own.
    row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).astype(np.float32)


def compare(
    llm: Any, reference: Reference, max_new_tokens: int, stops: Sequence[int]
) -> dict[str, float]:
    """Agreement of a loaded GGUF model with the HF reference, and its generation speed."""
    stop_set = set(stops)
    matches, prefixes, diffs = [], [], []
    generated, elapsed = 0, 0.0
    for prompt, expected, logits in zip(
        reference.prompts, reference.continuations, reference.logits, strict=True
    ):
        ours = llama_next_logits(llm, prompt)
        diffs.append(float(np.max(np.abs(ours[: len(logits)] - logits))))
        start = time.perf_counter()
        got = llama_greedy(llm, prompt, max_new_tokens, stop_set)
        elapsed += time.perf_counter() - start
        generated += len(got) + (len(got) < max_new_tokens)  # the stop token was decoded too
        matches.append(float(got == expected))
        common = 0
        for a, b in zip(got, expected, strict=False):
            if a != b:
                break
            common += 1
        prefixes.append(common / len(expected) if expected else float(got == expected))
    return {
        "greedy_match": float(np.mean(matches)),
        "prefix_agreement": float(np.mean(prefixes)),
        "max_logit_diff": float(np.max(diffs)),
        "tokens_per_s": generated / elapsed if elapsed else 0.0,
    }


def tokenization_matches(llm: Any, tokenizer: Any, texts: Sequence[str]) -> bool:
    """Whether llama.cpp's tokenizer (from the GGUF file) gives the HF tokenizer's ids."""
    for text in texts:
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if list(theirs) != list(tokenizer(text, add_special_tokens=False)["input_ids"]):
            return False
    return True
