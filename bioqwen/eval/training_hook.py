"""The in-training generation hook: the evaluation code scoring the model while it trains.

Name it in the train config (training never imports evaluation; Hydra builds it for the job):
    generation_eval.hook._target_=bioqwen.eval.training_hook.benchmark_metrics
    +generation_eval.hook.benchmark=ncbi generation_eval.every_steps=6
The train job hands it the run's data.system_prompts (bioqwen.train.callbacks.generation_hook):
an override such as `data.system_prompts.en=...` is the system turn it prompts with too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bioqwen.checkout import compose, plain


def benchmark_metrics(
    benchmark: str,
    system_prompts: Mapping[str, str],
    limit: int = 8,
    max_new_tokens: int = 64,
    batch_size: int = 8,
) -> Callable[[Any, Any], dict[str, float]]:
    """A hook scoring the model on a benchmark's first `limit` items as `bioqwen evaluate`
    would (greedy decoding, no batch-1 timing pass), prompted with the train run's
    `system_prompts`."""
    from bioqwen.eval.gold import load_benchmark
    from bioqwen.eval.runner import evaluate_model

    overrides = [
        f"benchmark={benchmark}",
        f"benchmark.limit={limit}",
        f"generation.max_new_tokens={max_new_tokens}",
        f"generation.batch_size={batch_size}",
        "generation.iteration_time_samples=0",  # no batch-1 timing pass during training
    ]
    cfg = compose("evaluate", overrides, "generation_eval.hook")
    bench_cfg, settings = plain(cfg.benchmark), plain(cfg.generation)
    bench = load_benchmark(bench_cfg)  # read once, scored at every call

    def hook(model: Any, tokenizer: Any) -> dict[str, float]:
        result = evaluate_model(
            model, tokenizer, bench_cfg, settings, system_prompts, progress=False, bench=bench
        )
        return {k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}

    return hook
