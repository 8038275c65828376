"""`bioqwen score-data` on the shipped samples: one command writes scores, table, histograms
and PCA maps (run dir + W&B); prepare filters with those scores; a SIGKILLed run resumes
without rescoring; bad models, score files and records stop it with nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.jobs import score_data
from bioqwen.jobs.common import execute
from tests.conftest import ROOT, compose_config, offline_run

# The quality step's tiny models (scorer, encoder, decoder) as fixtures.
pytest_plugins = ["tests.quality.models"]

# How the tests run a command as a user would (a process of its own, from the checkout root).
PROCESS = {"cwd": ROOT, "capture_output": True, "text": True, "timeout": 300}
FIGURES = ["fig3a_scores_before", "fig3b_scores_after", "fig3c_pca_encoder", "fig3d_pca_decoder"]
RECORDS = 28  # lines of samples/medchatzh/MedChatZH_train.sample.jsonl


def _scores(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_one_command_writes_everything_and_prepare_uses_the_scores(
    run_cli, quality_models: tuple[str, ...], tmp_path: Path
) -> None:
    run = tmp_path / "score"
    done = run_cli("score-data", *quality_models, run_dir=run)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert json.loads(done.stdout.strip().splitlines()[-1]) == metrics
    scores = {row["id"]: row["score"] for row in _scores(run / "scores.jsonl")}
    assert len(scores) == RECORDS == metrics["quality/records"] == metrics["quality/scored_now"]
    kept = sum(s >= 2.8 for s in scores.values())
    assert 0 < kept < RECORDS and metrics["quality/kept_records"] == kept
    rows = json.loads((run / "thresholds.json").read_text())
    assert (rows[0]["threshold"], rows[-1]["threshold"]) == (2.0, 3.5)
    assert next(r for r in rows if r["threshold"] == 2.8)["mark"].startswith("chosen")
    for name in FIGURES:
        assert (run / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    lineage = json.loads((run / "scores.jsonl.lineage.json").read_text())
    assert lineage["scorer"]["revision"].startswith("local:") and "Human:" in lineage["template"]
    tracked = offline_run(run)
    assert {k: tracked["summary"].get(k) for k in metrics} == metrics
    logged = {key.split("/")[1] for row in tracked["history"] for key in row if "/" in key}
    assert {*FIGURES, "thresholds"} <= logged  # images (nested keys) and the table

    prepared = run_cli(
        "prepare",
        f"data.mix.sources.medchatzh.score_file={run / 'scores.jsonl'}",
        "tracking=disabled",
        run_dir=tmp_path / "prepare",
    )
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    card = json.loads((tmp_path / "prepare" / "data_card.json").read_text())
    assert card["inputs"]["medchatzh/scores"]["path"] == str(run / "scores.jsonl")
    assert card["thresholds"][0]["rows"] == rows  # the table, in prepare's data card
    assert "## Reward threshold: medchatzh" in (tmp_path / "prepare" / "data_card.md").read_text()
    low = {
        d["id"]
        for d in map(json.loads, (tmp_path / "prepare" / "drops.jsonl").open())
        if d["reason"] == "low_quality"
    }
    assert low == {rid for rid, s in scores.items() if s < 2.8}


@pytest.mark.slow
def test_killed_run_resumes_without_rescoring(
    quality_models: tuple[str, ...], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = [*quality_models, "batch_size=4", "embeddings.enabled=false", f"hydra.run.dir={run}"]
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_SERVICE")}
    env["WANDB_MODE"] = "offline"
    script = str(Path(__file__).with_name("kill_after_batch.py"))
    killed = subprocess.run([sys.executable, script, *args], env=env, **PROCESS)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    first = _scores(run / "scores.jsonl")
    assert len(first) == 4 and not (run / "metrics.json").exists()
    with open(run / "scores.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"id": "medchatzh:9", "sco')  # a line torn by the kill: not trusted

    command = [sys.executable, "-m", "bioqwen.cli", "score-data", *args]
    resumed = subprocess.run(command, env=env, **PROCESS)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["quality/scored_before"], metrics["quality/scored_now"]) == (4, RECORDS - 4)
    rows = _scores(run / "scores.jsonl")
    assert rows[:4] == first  # the killed run's scores stay as they were
    assert len(rows) == len({r["id"] for r in rows}) == RECORDS  # nothing scored twice


def _execute(run: Path, *overrides: str) -> None:
    execute(score_data.run, compose_config("score_data", *overrides), run)


def test_a_causal_lm_as_scorer_stops_before_anything_is_written(
    run_cli, tiny_model_dir: Path, quality_models: tuple[str, ...], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    done = run_cli("score-data", *quality_models, f"scorer.path={tiny_model_dir}", run_dir=run)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("bioqwen: error: scorer: ")
    assert "not a sequence classifier" in done.stderr
    assert not (run / "scores.jsonl").exists() and not (run / "config.yaml").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "medchatzh:404", "score": 3.0}', "record medchatzh:404 is not in the scored"),
        (
            '{"id": "medchatzh:3", "score": "good"}',
            "record medchatzh:3: score 'good' is not a number",
        ),
    ],
)
def test_a_bad_score_file_in_the_run_dir_stops_the_resume(
    quality_models: tuple[str, ...], tmp_path: Path, line: str, message: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    overrides = [*quality_models, "embeddings.enabled=false"]
    scores = run / "scores.jsonl"
    # The lineage of the very scorer this run loads, so only the line itself is wrong.
    from bioqwen.quality import reward

    cfg = compose_config("score_data", *overrides)
    scorer = reward.load_scorer(cfg.scorer, reward.pick_device("cpu"))
    scores.write_text('{"id": "medchatzh:1", "score": 3.0}\n' + line + "\n", encoding="utf-8")
    reward.write_lineage(scores, scorer)
    before = scores.read_bytes()
    with pytest.raises(BioqwenError, match=rf"scores.jsonl:2: {message}"):
        _execute(run, *overrides)
    assert scores.read_bytes() == before and not (run / "config.yaml").exists()


def test_a_record_that_cannot_be_encoded_is_named(
    quality_models: tuple[str, ...], tmp_path: Path
) -> None:
    bad = tmp_path / "medchatzh.jsonl"
    rows = [{"instruction": "头痛怎么办", "input": "", "output": "多休息。"}] * 4
    rows[2] = {"instruction": "咳嗽", "input": "", "output": "bad \ud800 text"}
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = tmp_path / "run"
    # A lone surrogate is refused by the reader (issue 21), before any model loads; a text the
    # tokenizer cannot encode past the reader is named by reward.plan (tests/quality).
    with pytest.raises(BioqwenError, match=r"medchatzh\.jsonl:3: answer: lone surrogate \\ud800"):
        _execute(run, *quality_models, f"data.mix.sources.medchatzh.path={bad}")
    assert not run.exists() or not any(run.iterdir())
