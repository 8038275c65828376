"""`bioqwen score benchmark=<name> predictions=<csv>`: score a predictions file, no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.errors import BioqwenError
from bioqwen.eval import gold, scoring
from bioqwen.jobs.common import job_main, log, open_run, plain
from bioqwen.runs import file_hash


def _gold_files(bench: dict[str, Any]) -> dict[str, str]:
    """Hashes of the gold files a NER score joined against (QA files carry their answers)."""
    if bench["task"] != "ner":
        return {}
    return {
        str(gold.split_path(bench, s)): file_hash(gold.split_path(bench, s))
        for s in gold.available_splits(bench)
    }


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score cfg.predictions for cfg.benchmark and write metrics.json."""
    bench = plain(cfg.benchmark)
    predictions = Path(str(cfg.predictions))
    if not predictions.exists():
        raise BioqwenError(f"predictions file not found: {predictions}")
    name = str(bench["name"])
    # Score before opening the run, so bad input leaves no config, W&B run or metrics behind.
    metrics = scoring.score_file(predictions, bench)
    with open_run(cfg, "score", name=f"score-{name}", tags=[f"benchmark:{name}"]) as run:
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
