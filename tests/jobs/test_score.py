"""`bioqwen score` through the real CLI (a subprocess, as a user runs it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIXTURES, cli
from tests.eval.known_answers import WEBMEDQA, WEBMEDQA_KNOWN
from tests.jobs.conftest import wandb_summary

EVAL_FIXTURES = FIXTURES / "eval"


def test_score_cli_reproduces_webmedqa_and_prints_metrics_last(tmp_path: Path) -> None:
    run_dir = tmp_path / "score"
    proc = cli("score", "benchmark=webmedqa", f"predictions={WEBMEDQA}", run_dir=run_dir)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert printed == json.loads((run_dir / "metrics.json").read_text())
    assert {k: round(printed[k], 3) for k in WEBMEDQA_KNOWN} == WEBMEDQA_KNOWN
    assert (run_dir / "lineage.json").exists()
    summary = wandb_summary(run_dir)
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
