"""Issue 8 items 7, 9, 10, 11: duplicates counted, per-split and per-row results, the QA answer
check, bootstrap intervals and the paired comparison (in-process, on the shipped files)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bioqwen.checkout import plain
from bioqwen.errors import BioqwenError
from bioqwen.eval import bootstrap, gold, scoring
from bioqwen.eval.ner import authors_result
from bioqwen.jobs import score
from bioqwen.jobs.common import execute
from tests.conftest import compose_config
from tests.eval.known_answers import WEBMEDQA, WEBMEDQA_KNOWN, webmedqa_rows, write_csv

SETTINGS = {"resamples": 1000, "seed": 0, "confidence": 0.95}


def _bench(name: str) -> dict[str, Any]:
    return plain(compose_config("score", f"benchmark={name}", "predictions=x").benchmark)


def test_intervals_are_seeded_and_bracket_the_point_estimate() -> None:
    scored = scoring.score_predictions(WEBMEDQA, _bench("webmedqa"))
    first = bootstrap.intervals(scored.statistic, len(scored.units), SETTINGS)
    again = bootstrap.intervals(scored.statistic, len(scored.units), SETTINGS)
    assert first == again
    for key in WEBMEDQA_KNOWN:
        assert first[f"{key}/ci_low"] < scored.metrics[key] < first[f"{key}/ci_high"]
    other = bootstrap.intervals(scored.statistic, 50, {**SETTINGS, "seed": 1})
    assert other != first  # the seed is used


def test_score_job_writes_intervals_per_row_scores_and_a_paired_comparison(tmp_path) -> None:
    worse = [[prompt, answer, response[:5]] for prompt, answer, response in webmedqa_rows()]
    degraded = write_csv(tmp_path / "worse.csv", ["prompt", "answer", "response"], worse)
    cfg = compose_config(
        "score", "benchmark=webmedqa", f"predictions={WEBMEDQA}", f"compare={degraded}"
    )
    metrics = execute(score.run, cfg, tmp_path / "run")
    assert round(metrics["rouge-l"], 3) == WEBMEDQA_KNOWN["rouge-l"]
    assert metrics["rouge-l/ci_low"] < metrics["rouge-l"] < metrics["rouge-l/ci_high"]
    assert metrics["compare/rouge-l/delta"] > 0 and metrics["compare/rouge-l/p_value"] < 0.01
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics
    per_row = [json.loads(x) for x in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    assert len(per_row) == 50 and per_row[0]["row"] == 2
    # Per-row scores are on metrics.json's x100 scale: their mean is the metric.
    mean = sum(r["scores"]["rouge-l"] for r in per_row) / 50
    assert mean == pytest.approx(metrics["rouge-l"])
    same = compose_config(
        "score", "benchmark=webmedqa", f"predictions={WEBMEDQA}", f"compare={WEBMEDQA}"
    )
    itself = execute(score.run, same, tmp_path / "same")
    assert itself["compare/rouge-l/delta"] == 0 and itself["compare/rouge-l/p_value"] == 1.0


def test_ncbi_reports_each_split_beside_all_splits_and_counts_repeated_prompts(tmp_path) -> None:
    cfg = _bench("ncbi")
    docs = gold.load_benchmark({**cfg, "limit": None}).items
    train = [d for d in docs if d.split == "train"][:5]
    test = [d for d in docs if d.split == "test"][:5]
    rows = [
        [d.text, authors_result({t: sorted(v) for t, v in d.gold.items()}, ["Disease"])]
        for d in train
    ]
    rows += [[d.text, authors_result({}, ["Disease"])] for d in test]
    rows.append(rows[0])  # a repeated prompt: scored once, counted
    metrics = scoring.score_file(write_csv(tmp_path / "p.csv", ["prompt", "result"], rows), cfg)
    assert metrics["split/train/macro_f1"] == 1.0 and metrics["split/test/macro_f1"] == 0.0
    assert metrics["split/train/n_documents"] == metrics["split/test/n_documents"] == 5
    assert 0 < metrics["macro_f1"] < 1 and metrics["n_documents"] == 10
    assert metrics["n_duplicates"] == 1


def test_qa_answer_column_is_checked_against_the_gold(tmp_path) -> None:
    table = webmedqa_rows()
    table[2][1] = "换过的答案"
    edited = write_csv(tmp_path / "edited.csv", ["prompt", "answer", "response"], table)
    with pytest.raises(BioqwenError, match=r"edited\.csv:4: the answer column differs"):
        scoring.score_file(edited, _bench("webmedqa"))
    # A webMedQA file scored as iCliniq: its questions are not in that gold.
    with pytest.raises(BioqwenError, match=r"BioQwen-1.8B-qa-webmedqa\.csv:2: question not in"):
        scoring.score_file(WEBMEDQA, _bench("icliniq"))
