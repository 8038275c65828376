"""`bioqwen score benchmark=<name> predictions=<csv> [compare=<csv>]`: score a predictions file.

Writes metrics.json (every metric with its bootstrap interval, `<metric>/ci_low|ci_high`;
with `compare=`, `compare/<metric>/delta|p_value` from a paired bootstrap against the second
file) and scores.jsonl (one line per scored row: its prompt and per-row scores, or per-type
TP/FP/FN, on the scale of metrics.json). Everything is scored before the run opens, so bad
input leaves no config, W&B run or metrics behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from bioqwen.errors import BioqwenError
from bioqwen.eval import bootstrap, gold, scoring
from bioqwen.jobs.common import job_main, log, open_run, plain
from bioqwen.runs import atomic_write_text, file_hash


def _gold_files(bench: dict[str, Any]) -> dict[str, str]:
    """Hashes of the gold files a NER score joined against (QA files carry their answers)."""
    if bench["task"] != "ner":
        return {}
    return {
        str(gold.split_path(bench, s)): file_hash(gold.split_path(bench, s))
        for s in gold.available_splits(bench)
    }


def _compared(
    scored: scoring.Scored, other: Path, bench: dict[str, Any], settings: dict[str, Any]
) -> dict[str, float]:
    """Paired bootstrap p-values of `scored` against the predictions in `other`."""
    second = scoring.score_predictions(other, bench)
    if sorted(second.units) != sorted(scored.units):
        raise BioqwenError(
            f"compare={other}: its rows are not the same questions / documents as "
            "predictions= (a paired comparison needs the same units)"
        )
    # Align the second file's units to the first file's order, so indices pair up.
    position = {unit: i for i, unit in enumerate(second.units)}
    order = np.array([position[u] for u in scored.units])

    def aligned(idx: np.ndarray) -> dict[str, float]:
        return second.statistic(order[idx])

    return bootstrap.paired_p_values(scored.statistic, aligned, len(scored.units), settings)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score cfg.predictions for cfg.benchmark and write metrics.json and scores.jsonl."""
    bench = plain(cfg.benchmark)
    settings = plain(cfg.bootstrap)
    predictions = Path(str(cfg.predictions))
    if not predictions.exists():
        raise BioqwenError(f"predictions file not found: {predictions}")
    name = str(bench["name"])
    scored = scoring.score_predictions(predictions, bench)
    metrics = dict(scored.metrics)
    metrics.update(bootstrap.intervals(scored.statistic, len(scored.units), settings))
    if cfg.compare is not None:
        metrics.update(_compared(scored, Path(str(cfg.compare)), bench, settings))
    with open_run(cfg, "score", name=f"score-{name}", tags=[f"benchmark:{name}"]) as run:
        atomic_write_text(
            run.dir / "scores.jsonl",
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scored.rows),
        )
        run.lineage(
            predictions={"path": str(predictions.resolve()), "hash": file_hash(predictions)},
            gold=_gold_files(bench),
        )
        run.finish(metrics)
        log.info("scored %s against %s: %s", predictions, name, run.dir)
    return metrics


main = job_main("score", run)

if __name__ == "__main__":
    main()
