"""`bioqwen evaluate` through the real CLI (subprocesses, tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, cli
from tests.jobs.conftest import wandb_summary

EVAL_FIXTURES = FIXTURES / "eval"


def test_evaluate_tiny_ncbi_end_to_end_and_rescore(tmp_path: Path) -> None:
    run_dir = tmp_path / "eval"
    proc = cli(
        "evaluate",
        "model=tiny",
        "benchmark=ncbi",
        "benchmark.limit=3",
        "generation.max_new_tokens=8",
        "generation.batch_size=2",
        "generation.iteration_time_samples=2",
        run_dir=run_dir,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == metrics
    assert metrics["n_documents"] == 3 and metrics["iteration_time_samples"] == 2
    assert metrics["iteration_time_s"] > 0 and metrics["throughput_samples_per_s"] > 0
    assert {"f1/Disease", "macro_f1", "balanced_accuracy", "unparsable_rate"} <= set(metrics)
    assert {"language_fidelity", "other_script_rate"} <= set(metrics)
    records = [
        json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(records) == 3
    assert {"prompt", "response", "entities", "latency_s", "gold"} <= set(records[0])
    assert records[0]["chat_prompt"].endswith("<|im_start|>assistant\n")
    # The W&B summary holds the same numbers as metrics.json, iteration time included, and
    # the run logged a table of sample predictions.
    summary = wandb_summary(run_dir)
    assert {k: summary[k] for k in metrics} == metrics
    assert summary["predictions/_type"] == "table-file" and summary["predictions/nrows"] == 3
    # The predictions CSV is in the authors' format: `score` re-joins it and agrees.
    rescored = cli(
        "score",
        "benchmark=ncbi",
        f"predictions={run_dir / 'predictions.csv'}",
        "tracking=disabled",
        run_dir=tmp_path / "rescore",
    )
    assert rescored.returncode == 0, rescored.stderr
    again = json.loads(rescored.stdout.strip().splitlines()[-1])
    for key in ("f1/Disease", "precision/Disease", "recall/Disease", "n_documents"):
        assert again[key] == pytest.approx(metrics[key])


def test_evaluate_accepts_a_training_run_dir_as_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    # A training run directory as the train job leaves it: lineage.json and merged/.
    run = tmp_path / "train-run"
    run.mkdir()
    (run / "lineage.json").write_text('{"job": "train"}')
    (run / "merged").symlink_to(tiny_model_dir, target_is_directory=True)
    proc = cli(
        "evaluate",
        f"model={run}",
        "benchmark=webmedqa",
        "benchmark.limit=2",
        "generation.max_new_tokens=6",
        "generation.batch_size=1",
        "tracking=disabled",
        run_dir=tmp_path / "eval",
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_samples"] == 2 and metrics["iteration_time_samples"] == 2
    lineage = json.loads((tmp_path / "eval" / "lineage.json").read_text())
    assert lineage["model"] == str(run / "merged") and lineage["parents"] == [str(run)]


def test_evaluate_missing_gold_exits_before_opening_a_run(tmp_path: Path) -> None:
    proc = cli(
        "evaluate",
        "model=tiny",
        "benchmark=cmedqa2",
        f"benchmark.data_dir={tmp_path / 'nowhere'}",
        run_dir=tmp_path / "eval",
    )
    assert proc.returncode == 2
    assert "gold file not found" in proc.stderr and "test_candidates.txt" in proc.stderr
    assert not (tmp_path / "eval" / "config.yaml").exists()
