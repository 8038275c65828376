"""`bioqwen score benchmark=<name> predictions=<csv> [compare=<csv>]`: score a predictions file.

No model is run. Writes metrics.json (every metric with its bootstrap interval, conf/bootstrap/;
`compare=` scores a second file of the same items and adds paired bootstrap p-values) and
scores.jsonl (one line per scored row: its prompt and per-row scores, or per-type TP/FP/FN, on
the scale of metrics.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.errors import BioqwenError
from bioqwen.eval import gold, questions, scoring
from bioqwen.jobs.common import job_main, log, open_run, plain
from bioqwen.runs import atomic_write_text, file_hash


def _gold_files(bench: dict[str, Any]) -> dict[str, str]:
    """Hashes of the gold files a NER score joined against, or a QA file's answers were
    checked against (none when the QA gold is not there)."""
    if bench["task"] != "ner":
        paths = questions.qa_gold_files(bench)
    else:
        paths = [gold.split_path(bench, s) for s in gold.available_splits(bench)]
    return {str(path): file_hash(path) for path in paths}


def _file(value: Any, key: str) -> Path:
    path = Path(str(value))
    if not path.is_file():
        raise BioqwenError(f"{key} file not found: {path}")
    return path


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score cfg.predictions for cfg.benchmark and write metrics.json and scores.jsonl."""
    bench = plain(cfg.benchmark)
    predictions = _file(cfg.predictions, "predictions")
    compare = _file(cfg.compare, "compare") if cfg.compare is not None else None
    name = str(bench["name"])
    # Score before opening the run, so bad input leaves no config, W&B run or metrics behind.
    metrics, rows = scoring.score_report(predictions, bench, plain(cfg.bootstrap), compare)
    with open_run(cfg, "score", name=f"score-{name}", tags=[f"benchmark:{name}"]) as run:
        atomic_write_text(
            run.dir / "scores.jsonl",
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
        )
        run.lineage(
            predictions={"path": str(predictions.resolve()), "hash": file_hash(predictions)},
            gold=_gold_files(bench),
            **(
                {"compare": {"path": str(compare.resolve()), "hash": file_hash(compare)}}
                if compare
                else {}
            ),
        )
        run.finish(metrics)
        log.info("scored %s against %s: %s", predictions, name, run.dir)
    return metrics


main = job_main("score", run)

if __name__ == "__main__":
    main()
