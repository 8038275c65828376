"""The threshold table: records and tokens kept per candidate, the chosen and balancing marks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioqwen.data import thresholds


def test_candidates_run_from_2_0_to_3_5_by_0_1() -> None:
    grid = thresholds.candidates(2.0, 3.5, 0.1)
    assert len(grid) == 16 and grid[0] == 2.0 and grid[-1] == 3.5 and 2.8 in grid


def test_table_counts_records_and_tokens_at_or_above_each_threshold() -> None:
    scores = {"a": 1.0, "b": 2.8, "c": 3.0, "d": 3.4}
    tokens = {"a": 100, "b": 40, "c": 30, "d": 10}
    rows = thresholds.table(scores, tokens, [2.0, 2.9, 3.5], 2.8, comprehension_tokens=40)
    by = {r["threshold"]: r for r in rows}
    assert [r["threshold"] for r in rows] == [2.0, 2.8, 2.9, 3.5]  # the chosen value is added
    assert (by[2.0]["records"], by[2.0]["tokens"]) == (3, 80)
    assert (by[2.8]["records"], by[2.8]["tokens"]) == (3, 80)  # >= keeps a score equal to 2.80
    assert (by[2.9]["records"], by[2.9]["tokens"], by[2.9]["tokens (%)"]) == (2, 40, 22.2)
    assert by[3.5]["records"] == 0 and by[2.9]["QA / comprehension"] == 1.0
    assert thresholds.marked(rows, "chosen") == 2.8
    assert thresholds.marked(rows, "balance") == 2.9  # 40 QA tokens == 40 comprehension tokens
    markdown = thresholds.markdown(rows)
    assert "| **2.9** | **2** |" in markdown and "| 3.5 | 0 |" in markdown


def test_balance_follows_the_ratio_and_needs_comprehension_data() -> None:
    kept = {2.0: 100, 2.5: 60, 3.0: 20}
    assert thresholds.balance_threshold(kept, 100) == 2.0
    assert thresholds.balance_threshold(kept, 100, ratio=0.5) == 2.5
    assert thresholds.balance_threshold(kept, 0) is None


def test_a_scored_record_without_tokens_is_an_error() -> None:
    with pytest.raises(ValueError, match="no token count"):
        thresholds.table({"a": 3.0}, {}, [2.0], 2.8)


def test_the_card_finds_the_table_beside_a_score_file(tmp_path: Path) -> None:
    rows = thresholds.table({"a": 3.0}, {"a": 5}, [2.0, 3.5], 2.8)
    (tmp_path / thresholds.TABLE_FILE).write_text(json.dumps(rows), encoding="utf-8")
    assert thresholds.beside(tmp_path / "scores.jsonl") == rows
    assert thresholds.beside(tmp_path / "elsewhere" / "scores.jsonl") is None
