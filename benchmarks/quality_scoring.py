"""Reward scoring: batched, length-sorted (bioqwen) vs the authors' one-record-at-a-time loop.

Same records, same scorer, same process: a randomly initialised Qwen2ForSequenceClassification
with the width of Qwen2-0.5B (hidden 896, 14 heads, 2 KV heads, MLP 4864; --layers of them) and
the real Qwen tokenizer, scoring the shipped MedChatZH sample records (cycled to --records) in
the paper's template. Speed does not depend on the weights' values. The scores of the two
paths are compared too (they must agree: batching may not change a record's reward).

Each path's compute rate is printed beside its speed (2 x non-embedding parameters per real
token, attention left out: a lower bound): a path already near the processor's matmul peak
one record at a time cannot gain from batching, which then only adds padding.
Run: .venv/bin/python benchmarks/quality_scoring.py [--records 112] [--layers 2] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2Config, Qwen2ForSequenceClassification

from bioqwen.checkout import ROOT
from bioqwen.data.tokenizer import load_qwen_tokenizer
from bioqwen.quality import reward
from bioqwen.quality.records import read_records

SAMPLE = ROOT / "samples/medchatzh/MedChatZH_train.sample.jsonl"
TEMPLATE = "Human:{query}\n\nAssistant:{response}"
# Qwen2-0.5B's published shape, but for the number of layers (--layers).
WIDTH = {
    "hidden_size": 896,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "intermediate_size": 4864,
}


def build_scorer(directory: Path, layers: int) -> None:
    """A random reward model of Qwen2-0.5B width with the vendored Qwen tokenizer."""
    tokenizer = load_qwen_tokenizer("qwen1_5")
    vocab = (len(tokenizer) + 63) // 64 * 64
    config = Qwen2Config(
        vocab_size=vocab,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        num_hidden_layers=layers,
        **WIDTH,
    )
    torch.manual_seed(0)
    Qwen2ForSequenceClassification(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def _records(count: int) -> tuple[list[str], list[str]]:
    """Ids and scorer texts of the sample records, cycled to `count` (ids kept unique)."""
    src = {"reader": "instruction", "path": str(SAMPLE), "task": "qa", "quality": True}
    base = read_records({"mix": {"sources": {"medchatzh": src}}, "on_error": "raise"}, bool)
    records = [dict(r, id=f"{r['id']}#{i}") for i, r in enumerate(islice(cycle(base), count))]
    return [r["id"] for r in records], reward.texts_of(records, TEMPLATE)


def _gflops(scorer: reward.Scorer, tokens: int, seconds: float) -> float:
    """Matmul rate of a pass over `tokens` real tokens (2 x non-embedding params per token)."""
    params = sum(p.numel() for n, p in scorer.model.named_parameters() if "embed" not in n)
    return 2 * params * tokens / seconds / 1e9


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Print records/s and GFLOP/s of both paths, their ratio and the largest score difference."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=112)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-batch-tokens", type=int, default=8192)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    ids, texts = _records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        build_scorer(Path(tmp) / "scorer", args.layers)
        spec = {
            "path": str(Path(tmp) / "scorer"),
            "trust_remote_code": False,
            "dtype": "auto",
            "template": TEMPLATE,
            "max_length": args.max_length,
        }
        device = reward.pick_device(args.device)
        scorer = reward.load_scorer(spec, device)
        encoded = scorer.tokenizer(texts, truncation=True, max_length=args.max_length)
        tokens = [len(x) for x in encoded["input_ids"]]
        print(
            f"{len(ids)} records, {sum(tokens) / len(tokens):.0f} tokens on average (max "
            f"{max(tokens)}); {args.layers} layers of Qwen2-0.5B width, {device}, "
            f"{torch.get_num_threads()} threads"
        )
        reward.authors_loop(scorer, texts[:2])  # warm-up
        start = time.perf_counter()
        batches = reward.plan(scorer, ids, texts, args.batch_size, args.max_batch_tokens)
        reward.score_into(scorer, Path(tmp) / "scores.jsonl", ids, texts, batches)
        batched_s = time.perf_counter() - start
        batched, _ = reward.read_scores(Path(tmp) / "scores.jsonl", ids)
        start = time.perf_counter()
        single = reward.authors_loop(scorer, texts)
        single_s = time.perf_counter() - start
        padded = sum(len(b) * max(tokens[i] for i in b) for b in batches)
        rates = {p: _gflops(scorer, sum(tokens), s) for p, s in (("1", single_s), ("b", batched_s))}
    worst = max(abs(batched[rid] - s) for rid, s in zip(ids, single, strict=True))
    print(
        f"authors' loop (1 record per forward, file order): {single_s:.2f} s, "
        f"{len(ids) / single_s:.1f} rec/s, {rates['1']:.0f} GFLOP/s"
    )
    print(
        f"bioqwen (batch {args.batch_size}, longest first, appended per batch): {batched_s:.2f} s, "
        f"{len(ids) / batched_s:.1f} rec/s, {rates['b']:.0f} GFLOP/s; {len(batches)} batches, "
        f"{100 * (padded - sum(tokens)) / padded:.1f} % padding"
    )
    ratio = single_s / batched_s
    print(f"ratio: {ratio:.2f}x; largest score difference {worst:.1e}")
    return {"ratio": ratio, "worst": worst, "batches": len(batches), "gflops": rates}


if __name__ == "__main__":
    main()
