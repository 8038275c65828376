"""`bioqwen evaluate` through the real CLI (subprocesses, tiny model)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, cli, offline_run, system_prompts
from tests.eval.known_answers import WEBMEDQA

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
    summary = offline_run(run_dir)["summary"]
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
    # The paper's questions, in the file's order: two of the authors' webMedQA questions.
    with open(WEBMEDQA, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = [rows[9], rows[4]]
    questions = tmp_path / "two.csv"
    with open(questions, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    proc = cli(
        "evaluate",
        f"model={run}",
        "model.system_prompt=null",  # as a baseline's config: a trained model is still BioQwen
        "benchmark=webmedqa",
        f"benchmark.questions_from={questions}",
        "generation.max_new_tokens=6",
        "generation.batch_size=1",
        "tracking=disabled",
        run_dir=tmp_path / "eval",
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_samples"] == 2 and metrics["iteration_time_samples"] == 2
    assert metrics["bleu-1/ci_low"] <= metrics["bleu-1"] <= metrics["bleu-1/ci_high"]
    lineage = json.loads((tmp_path / "eval" / "lineage.json").read_text())
    assert lineage["model"] == str(run / "merged") and lineage["parents"] == [str(run)]
    records = _records(tmp_path / "eval")
    assert [r["prompt"] for r in records] == [r["prompt"] for r in picked]
    assert all(system_prompts()["zh"] in r["chat_prompt"] for r in records)


def test_an_overridden_system_prompt_reaches_the_evaluated_prompts(tmp_path: Path) -> None:
    from bioqwen.jobs import evaluate
    from bioqwen.jobs.common import execute
    from tests.conftest import compose_config

    cfg = compose_config(
        "evaluate",
        "benchmark=ncbi",  # English: a `system_prompt: bioqwen` model (tiny) gets data's en prompt
        "benchmark.limit=2",
        "generation.max_new_tokens=2",
        "generation.iteration_time_samples=0",
        "data.system_prompts.en=You are a test.",
    )
    execute(evaluate.run, cfg, tmp_path / "eval")
    records = _records(tmp_path / "eval")
    assert len(records) == 2
    assert all("system\nYou are a test.<|im_end|>" in str(r["chat_prompt"]) for r in records)
    assert not any(system_prompts()["en"] in str(r["chat_prompt"]) for r in records)


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


# Timings differ between any two runs; everything else must not.
TIMING = ("latency_s", "amortized_s")
RESUME_ARGS = (
    "model=tiny",
    "benchmark=webmedqa",
    "benchmark.limit=5",
    "generation.max_new_tokens=8",
    "generation.batch_size=2",
    "generation.iteration_time_samples=0",
    "tracking=disabled",
)


def _records(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_killed_evaluation_resumes_without_regenerating_finished_batches(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert cli("evaluate", *RESUME_ARGS, run_dir=reference).returncode == 0
    killed = tmp_path / "killed"
    script = str(Path(__file__).with_name("kill_after_eval_batch.py"))
    # A job of its own W&B service, as from the command line (see tests/train/test_resume.py).
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    command = [sys.executable, script, "2", *RESUME_ARGS, f"hydra.run.dir={killed}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    journal = _records(killed)
    assert len(journal) == 4 and not (killed / "metrics.json").exists()  # two batches of two
    proc = cli("evaluate", *RESUME_ARGS, "resume=true", run_dir=killed)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((killed / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    assert metrics.pop("resumed_rows") == 4
    same = [k for k in expected if "wall" not in k and "throughput" not in k]
    assert {k: metrics[k] for k in same} == {k: expected[k] for k in same}
    assert (killed / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()
    final, first = _records(killed), _records(reference)
    strip = [{k: v for k, v in r.items() if k not in TIMING} for r in final]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING} for r in first]
    # The four rows of the killed run kept their own timings: they were not generated again.
    kept = {r["id"]: r["latency_s"] for r in journal}
    assert {r["id"]: r["latency_s"] for r in final if r["id"] in kept} == kept


def test_resume_of_a_run_with_other_settings_is_an_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "eval"
    run_dir.mkdir()
    line = {"index": 0, "id": "test:2", "chat_prompt": "another prompt", "response": "x"}
    (run_dir / "predictions.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    proc = cli("evaluate", *RESUME_ARGS, "resume=true", run_dir=run_dir)
    assert proc.returncode == 2
    assert "predictions.jsonl:1: resume" in proc.stderr and "another prompt" in proc.stderr


def test_auto_map_code_never_runs_without_trust_remote_code(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # A known model type loads the library's own class: the directory's Python is not run.
    import shutil

    from bioqwen.eval.loading import load_for_generation
    from bioqwen.models import check_model_files
    from tests.conftest import compose_config

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    marker = tmp_path / "remote-code-ran"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n", "utf-8")
    config = json.loads((model / "config.json").read_text("utf-8"))
    config["auto_map"] = {"AutoConfig": "evil.Config", "AutoModelForCausalLM": "evil.Model"}
    (model / "config.json").write_text(json.dumps(config), "utf-8")
    check_model_files(str(model))
    model_cfg = dict(compose_config("evaluate", f"model.path={model}").model)
    model_cfg["tiny"] = None
    load_for_generation(model_cfg, "cpu")
    assert not marker.exists()
