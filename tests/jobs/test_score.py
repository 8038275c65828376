"""`bioqwen score` through the real CLI (a subprocess, as a user runs it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import FIXTURES, cli, offline_run
from tests.eval.known_answers import WEBMEDQA, WEBMEDQA_KNOWN

EVAL_FIXTURES = FIXTURES / "eval"


def test_score_cli_reproduces_webmedqa_and_prints_metrics_last(tmp_path: Path) -> None:
    run_dir = tmp_path / "score"
    proc = cli("score", "benchmark=webmedqa", f"predictions={WEBMEDQA}", run_dir=run_dir)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert printed == json.loads((run_dir / "metrics.json").read_text())
    assert {k: round(printed[k], 3) for k in WEBMEDQA_KNOWN} == WEBMEDQA_KNOWN
    assert (run_dir / "lineage.json").exists()
    summary = offline_run(run_dir)["summary"]
    assert {k: summary[k] for k in printed} == printed


def test_score_cli_bad_input_exits_nonzero_naming_the_problem(tmp_path: Path) -> None:
    bad = EVAL_FIXTURES / "qa_predictions_bad_columns.csv"
    proc = cli(
        "score", "benchmark=webmedqa", f"predictions={bad}", "tracking=disabled", run_dir=tmp_path
    )
    assert proc.returncode == 2
    assert (
        "qa_predictions_bad_columns.csv" in proc.stderr
        and "missing column(s) prompt,response" in proc.stderr
    )
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "config.yaml").exists()
    proc = cli("score", "benchmark=nope", f"predictions={bad}", run_dir=tmp_path / "x")
    assert proc.returncode != 0 and "benchmark/nope" in proc.stderr
    unmatched = EVAL_FIXTURES / "ner_predictions_unmatched.csv"
    proc = cli(
        "score", "benchmark=ncbi", f"predictions={unmatched}", "tracking=disabled", run_dir=tmp_path
    )
    assert proc.returncode == 2 and "ner_predictions_unmatched.csv:2" in proc.stderr


def test_score_cli_intervals_and_paired_comparison(tmp_path: Path) -> None:
    with open(WEBMEDQA, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    other = tmp_path / "other.csv"
    with open(other, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "response": r["response"][:20]} for r in rows)
    run_dir = tmp_path / "score"
    proc = cli(
        "score",
        "benchmark=webmedqa",
        f"predictions={WEBMEDQA}",
        f"compare={other}",
        "bootstrap.resamples=200",
        "tracking=disabled",
        run_dir=run_dir,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["rouge-l/ci_low"] < metrics["rouge-l"] < metrics["rouge-l/ci_high"]
    assert metrics["compare/rouge-l"] < metrics["rouge-l"] and metrics["rouge-l/p_value"] < 0.05
    assert json.loads((run_dir / "lineage.json").read_text())["compare"]["path"] == str(other)
    # One scores.jsonl line per row, on metrics.json's x100 scale: their mean is the metric.
    per_row = [json.loads(x) for x in (run_dir / "scores.jsonl").read_text().splitlines()]
    assert len(per_row) == 50 and per_row[0]["row"] == 2
    for key in ("rouge-l", "language_fidelity"):
        mean = sum(r["scores"][key] for r in per_row) / 50
        assert abs(mean - metrics[key]) < 1e-9, key
    # Another model's file over fewer questions cannot be paired: one line, nothing written.
    with open(other, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:10])
    bad = tmp_path / "bad"
    proc = cli(
        "score", "benchmark=webmedqa", f"predictions={WEBMEDQA}", f"compare={other}", run_dir=bad
    )
    assert proc.returncode == 2 and "do not score the same items" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (bad / "metrics.json").exists() and not (bad / "config.yaml").exists()
