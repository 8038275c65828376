"""Truncation to 1024 tokens: bioqwen's one-pass cut vs the authors' re-tokenizing loop.

Both run on the same multi-paragraph samples (real COIG-CQIA paragraphs from samples/,
assembled into answers of 1.2k-4k tokens) with the same real Qwen tokenizer, one sample at a
time; bioqwen's batched pipeline path is timed too. Prints times side by side, the ratio
(target >= 10x) and how often each result exceeds the limit or ends mid-sentence.

    .venv/bin/python benchmarks/prepare_truncation.py [--samples 150]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from bioqwen.checkout import ROOT, compose, plain
from bioqwen.data.chatml import render, with_system
from bioqwen.data.tokenizer import load_qwen_tokenizer
from bioqwen.data.truncate import fit

MAX_LENGTH = 1024


def authors_truncate(tokenizer, system: str, instruction: str, output: str) -> list[int]:
    """The authors' loop (script_stage2.tokenize_chatml), kept faithful, bugs included.

    It re-encodes the whole text after every dropped line and compares a character index
    (`last_newline`) with a token count (`min_length`); when it gives up it cuts the text at
    1024 characters, which may split the prompt or a word.
    """
    system_format = f"<|im_start|>system\n{system}<|im_end|>\n"
    user_format = f"<|im_start|>user\n{instruction.strip()}<|im_end|>\n<|im_start|>assistant\n"
    assistant_format = f"{output.strip()}<|im_end|>\n"
    chatml_text = f"{system_format}{user_format}{assistant_format}"
    encoded_length = len(tokenizer.encode(chatml_text, add_special_tokens=False))
    min_length = len(tokenizer.encode(system_format + user_format, add_special_tokens=False))
    while encoded_length > MAX_LENGTH:
        last_newline = chatml_text.rfind("\n")
        if last_newline > min_length:
            chatml_text = chatml_text[:last_newline]
            encoded_length = len(tokenizer.encode(chatml_text, add_special_tokens=False))
        else:
            chatml_text = chatml_text[:MAX_LENGTH]
            break
    if not chatml_text.endswith("<|im_end|>\n"):
        chatml_text += "<|im_end|>\n"
    return tokenizer(chatml_text, add_special_tokens=False)["input_ids"]


def make_samples(tokenizer, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, multi-paragraph answer) pairs of 1.2k-4k tokens from real COIG paragraphs."""
    paragraphs, prompts = [], []
    for path in sorted((ROOT / "samples" / "coig_cqia").rglob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            obj = json.loads(line)
            prompts.append(obj["instruction"].strip()[:200])
            paragraphs += [p.strip() for p in obj["output"].split("\n") if len(p.strip()) > 20]
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        target = rng.randint(1200, 4000)
        start = rng.randrange(len(paragraphs))
        chosen, tokens = [], 0
        while tokens < target:
            paragraph = paragraphs[(start + len(chosen)) % len(paragraphs)]
            chosen.append(paragraph)
            tokens += len(tokenizer.encode(paragraph, add_special_tokens=False))
        samples.append((rng.choice(prompts), "\n".join(chosen)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=150)
    args = parser.parse_args()
    tokenizer = load_qwen_tokenizer()
    system = str(plain(compose("prepare").data.system_prompts)["zh"])
    samples = make_samples(tokenizer, args.samples)
    conversations = [
        with_system([{"role": "user", "content": p}, {"role": "assistant", "content": a}], system)
        for p, a in samples
    ]
    mean_tokens = sum(len(tokenizer.encode(render(c).text)) for c in conversations) / len(samples)
    paragraphs = sum(a.count("\n") + 1 for _, a in samples) / len(samples)

    start = time.perf_counter()
    theirs = [authors_truncate(tokenizer, system, p, a) for p, a in samples]
    t_theirs = time.perf_counter() - start

    start = time.perf_counter()
    ours = [fit(c, tokenizer, MAX_LENGTH) for c in conversations]
    t_ours = time.perf_counter() - start

    # The pipeline's path: one batched encode with offsets, then the cut from the offsets.
    start = time.perf_counter()
    texts = [render(c).text for c in conversations]
    encodings = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    batched = [
        fit(c, tokenizer, MAX_LENGTH, [s for s, _ in e.offsets])
        for c, e in zip(conversations, encodings, strict=True)
    ]
    t_batched = time.perf_counter() - start
    assert [f.messages for f in batched] == [f.messages for f in ours]

    over = sum(len(ids) > MAX_LENGTH for ids in theirs)
    enders = tuple("。！？.!?”")
    mid = sum(
        not tokenizer.decode(ids).removesuffix("<|im_end|>\n").rstrip().endswith(enders)
        for ids in theirs
    )
    kept = [f for f in ours if f.messages is not None]
    print(f"samples: {len(samples)}, mean {mean_tokens:.0f} tokens, {paragraphs:.1f} paragraphs")
    print(f"{'method':<36}{'seconds':>10}{'ms/sample':>12}{'speed-up':>10}")
    for name, seconds in (
        ("authors' re-tokenize loop", t_theirs),
        ("bioqwen fit (prefix + tail encode)", t_ours),
        ("bioqwen batched (pipeline path)", t_batched),
    ):
        print(f"{name:<36}{seconds:>10.3f}{1000 * seconds / len(samples):>12.2f}"
              f"{t_theirs / seconds:>9.1f}x")  # fmt: skip
    print(f"ratio authors / bioqwen: {t_theirs / t_ours:.1f}x (target >= 10x); "
          f"batched {t_theirs / t_batched:.1f}x")  # fmt: skip
    print(f"authors: {over} results over {MAX_LENGTH} tokens, {mid} not ending on a sentence end")
    print(
        f"bioqwen: {sum(f.n_tokens > MAX_LENGTH for f in kept)} over the limit, "
        f"{len(samples) - len(kept)} dropped, modes "
        f"{ {m: sum(f.mode == m for f in ours) for m in ('paragraph', 'sentence', 'dropped')} }"
    )


if __name__ == "__main__":
    main()
