"""Batched generation (batch 16, left padded) vs the authors' one-prompt-at-a-time loop.

Same model (the tiny CPU model), same prompts, same settings; every response is forced to the
same length (min_new_tokens = max_new_tokens) so both sides generate exactly the same number of
tokens. Runs alternate and the best of each is kept, because these machines have slow spells.
The default length is the evaluate job's default (generation.max_new_tokens = 512): with short
outputs the long NCBI prompts' prefill, which batching cannot shrink on a CPU, dominates.
Measured on a 2-core machine (2026-11-29, 32 prompts, 512 tokens, batch 16): webMedQA 90.5 s
loop vs 2.6 s batched (35x), NCBI 151.0 s vs 4.0 s (38x); the same run sharing the cores with
another job gave 4.5x and 9.3x, so compare ratios from a quiet machine.
Run: .venv/bin/python benchmarks/eval_generation.py [--prompts 32] [--new-tokens 512]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from hydra import compose

import bioqwen.config  # noqa: F401
from bioqwen.checkout import hydra_context
from bioqwen.eval import generate, gold, loading, prompts
from bioqwen.jobs.common import plain


def _config(benchmark: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    with hydra_context():
        cfg = compose(
            "evaluate", overrides=["tracking=disabled", "model=tiny", f"benchmark={benchmark}"]
        )
    return plain(cfg.model), plain(cfg.benchmark), plain(cfg.data.system_prompts)


def _timed(model: Any, tok: Any, chats: list[str], settings: dict[str, Any]) -> float:
    start = time.perf_counter()
    generate.generate(model, tok, chats, settings, progress=False)
    return time.perf_counter() - start


def main() -> None:
    """Print seconds for the loop and the batched run, and their ratio, per benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"{'benchmark':<10} {'prompts':>7} {'loop s':>8} {'batched s':>10} {'ratio':>6}")
    for name in ("webmedqa", "ncbi"):
        model_cfg, bench_cfg, system_prompts = _config(name)
        model, tok = loading.load_for_generation(model_cfg, "cpu")
        items = gold.load_benchmark({**bench_cfg, "limit": args.prompts}).items
        chats = [
            generate.render_prompt(
                tok,
                prompts.messages_for(
                    bench_cfg, i, model_cfg["system_prompt"], system_prompts=system_prompts
                ),
            )
            for i in items
        ]
        base = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
        _timed(model, tok, chats[:2], {**base, "batch_size": 2})  # warm-up
        loop, batched = float("inf"), float("inf")
        for _ in range(args.repeats):
            loop = min(loop, _timed(model, tok, chats, {**base, "batch_size": 1}))
            batched = min(
                batched, _timed(model, tok, chats, {**base, "batch_size": args.batch_size})
            )
        print(f"{name:<10} {len(chats):>7} {loop:>8.2f} {batched:>10.2f} {loop / batched:>6.1f}x")


if __name__ == "__main__":
    main()
