"""Bootstrap intervals and paired p-values: vectorised over per-item statistics, seeded, and
equal to re-scoring every resample the slow way."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.eval import bootstrap, ner, qa, scoring
from tests.eval.known_answers import ROOT, WEBMEDQA

HEAD20 = ROOT / "samples/benchmarks/ncbi_predictions/taiyi-ner-ncbi-disease.head20.csv"
RESAMPLING = {"resamples": 1000, "confidence": 0.95, "seed": 0}


def _bench(compose: Callable[..., DictConfig], name: str, *overrides: str) -> dict[str, Any]:
    cfg = compose("score", f"benchmark={name}", "predictions=unused", *overrides)
    return OmegaConf.to_container(cfg.benchmark, resolve=True)  # type: ignore[return-value]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_qa_metric_gets_a_seeded_interval_around_its_value(compose) -> None:
    metrics = scoring.score_file(WEBMEDQA, _bench(compose, "webmedqa"), RESAMPLING)
    scored = [k for k in metrics if "/ci_" not in k and k not in ("n_samples", "n_duplicates")]
    assert {"bleu-1", "rouge-l", "gleu", "language_fidelity", "other_script_rate"} <= set(scored)
    for key in scored:
        low, high = metrics[f"{key}/ci_low"], metrics[f"{key}/ci_high"]
        assert low <= metrics[key] + 1e-9 and metrics[key] <= high + 1e-9, key
    # Fifty questions: the interval is wide, and the same seed gives the same interval.
    assert metrics["bleu-1/ci_high"] - metrics["bleu-1/ci_low"] > 1.0
    again = scoring.score_file(WEBMEDQA, _bench(compose, "webmedqa"), RESAMPLING)
    assert again == metrics
    other = scoring.score_file(WEBMEDQA, _bench(compose, "webmedqa"), {**RESAMPLING, "seed": 1})
    assert other["bleu-1/ci_low"] != metrics["bleu-1/ci_low"]
    none = scoring.score_file(WEBMEDQA, _bench(compose, "webmedqa"), {**RESAMPLING, "resamples": 0})
    assert not [k for k in none if "/ci_" in k]


def _naive_ner_interval(
    scores: scoring.Scores, counts: list[dict[str, ner.TypeCounts]], seed: int, resamples: int
) -> dict[str, tuple[float, float]]:
    """Percentile interval by re-running ner.ner_metrics on every resample's documents."""
    n = len(counts)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    values: dict[str, list[float]] = {}
    for row in picks:
        for key, value in ner.ner_metrics([counts[i] for i in row], ["Disease"]).items():
            values.setdefault(key, []).append(value)
    return {k: tuple(np.percentile(v, [2.5, 97.5])) for k, v in values.items()}  # type: ignore[misc]


def test_ner_intervals_equal_rescoring_each_resample(compose) -> None:
    bench = _bench(compose, "ncbi")
    scored = scoring.join_ner(scoring.read_predictions(HEAD20, "ner"), bench, HEAD20)
    scores = scoring.ner_summary(scored, bench)
    # The vectorised statistic reproduces the point metrics of the scorer.
    for key, value in scores.sample.metrics().items():
        assert value == pytest.approx(scores.metrics[key], abs=1e-12), key
    fast = bootstrap.intervals(scores.sample, 200, 0.95, seed=7)
    counts = [ner.count_document(s.document.gold, s.entities, ["Disease"]) for s in scored]
    for key, (low, high) in _naive_ner_interval(scores, counts, 7, 200).items():
        assert fast[f"{key}/ci_low"] == pytest.approx(low, abs=1e-12), key
        assert fast[f"{key}/ci_high"] == pytest.approx(high, abs=1e-12), key


def test_qa_point_metrics_from_the_statistics_equal_the_scorer(compose) -> None:
    rows = scoring.read_predictions(WEBMEDQA, "qa")
    scores = scoring.score_qa_rows(rows, _bench(compose, "icliniq"))  # word level too
    for key, value in scores.sample.metrics().items():
        assert value == pytest.approx(scores.metrics[key], abs=1e-9), key
    per_item = qa.score_items([r.response for r in rows], [r.answer for r in rows])
    assert scores.sample.columns["rouge-l"][3] == pytest.approx(100 * per_item[3].values[-1])


def test_paired_p_value_of_a_file_against_itself_and_a_worse_copy(compose, tmp_path: Path) -> None:
    bench = _bench(compose, "webmedqa")
    same = scoring.score_file(WEBMEDQA, bench, RESAMPLING, compare=WEBMEDQA)
    assert same["bleu-1/p_value"] == 1.0 and same["compare/bleu-1"] == same["bleu-1"]
    rows = _rows(WEBMEDQA)
    # A copy in another order whose responses are cut to their first 5 characters.
    worse = [{**r, "response": r["response"][:5]} for r in reversed(rows)]
    path = _write(tmp_path / "worse.csv", worse)
    metrics = scoring.score_file(WEBMEDQA, bench, RESAMPLING, compare=path)
    assert metrics["compare/rouge-l"] < metrics["rouge-l"]
    assert metrics["rouge-l/p_value"] < 0.01 and metrics["bleu-4/p_value"] < 0.05
    assert 0 < metrics["language_fidelity/p_value"] <= 1


def test_compare_needs_the_same_items(compose, tmp_path: Path) -> None:
    rows = _rows(WEBMEDQA)
    path = _write(tmp_path / "fewer.csv", rows[:-1])
    with pytest.raises(BioqwenError, match=r"fewer\.csv \(49 items\) do not score the same items"):
        scoring.score_file(WEBMEDQA, _bench(compose, "webmedqa"), RESAMPLING, compare=path)
