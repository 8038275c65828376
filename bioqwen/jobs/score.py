"""`bioqwen score benchmark=<name> predictions=<csv>`: score a predictions file, no model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

import bioqwen.config  # noqa: F401  (registers the schemas with Hydra)
from bioqwen.errors import BioqwenError
from bioqwen.eval import benchmarks, scoring
from bioqwen.jobs.common import CONF_DIR, log, open_run, plain, user_errors
from bioqwen.runs import file_hash, write_lineage


def _gold_files(bench: dict[str, Any]) -> dict[str, str]:
    """Hashes of the gold files a NER score joined against (QA files carry their answers)."""
    if bench["task"] != "ner":
        return {}
    return {
        str(benchmarks.split_path(bench, s)): file_hash(benchmarks.split_path(bench, s))
        for s in benchmarks.available_splits(bench)
    }


@user_errors
def run_score(cfg: DictConfig) -> dict[str, float]:
    """Score cfg.predictions for cfg.benchmark, write metrics.json, print it as the last line."""
    bench = plain(cfg.benchmark)
    predictions = Path(str(cfg.predictions))
    if not predictions.exists():
        raise BioqwenError(f"predictions file not found: {predictions}")
    name = str(bench["name"])
    # Score before opening the run, so bad input leaves no config, W&B run or metrics behind.
    metrics = scoring.score_file(predictions, bench)
    with open_run(cfg, "score", name=f"score-{name}", tags=[f"benchmark:{name}"]) as run:
        write_lineage(
            run.dir,
            predictions={"path": str(predictions.resolve()), "hash": file_hash(predictions)},
            gold=_gold_files(bench),
        )
        run.finish(metrics)
        log.info("scored %s against %s: %s", predictions, name, run.dir)
    print(json.dumps(metrics, ensure_ascii=False, sort_keys=True), flush=True)
    return metrics


@hydra.main(config_path=CONF_DIR, config_name="score", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point of `bioqwen score`."""
    run_score(cfg)


if __name__ == "__main__":
    main()
