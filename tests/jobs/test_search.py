"""`bioqwen search`: a misspelled objective or a bad space stops it before the study exists;
two CPU workers on the tiny model search with a pruner that prunes, into one summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest

from bioqwen.sweeps.search import JOURNAL_FILE, storage
from tests.conftest import cli

# Full fine-tuning moves the random tiny model's eval loss within a few steps: at lr 3e-2 it
# falls below 6.9 by step 3, at lr 1e-6 it stays at chance (ln 1024 = 6.93), so the threshold
# pruner at 6.9 prunes the one and lets the other complete, whatever the workers' timing.
TINY = (
    '"model=tiny","data/mix=sample","method=full","stage.max_steps=6","stage.eval_steps=3",'
    '"stage.logging_steps=1","stage.save_steps=6","stage.effective_batch_size=4",'
    '"max_eval_samples=8"'
)


def search(run_dir: Path, *overrides: str, timeout: float = 900):
    return cli("search", f"train=[{TINY}]", *overrides, run_dir=run_dir, timeout=timeout)


def written(run_dir: Path) -> set[str]:
    return (
        {p.name for p in run_dir.iterdir()} - {".hydra", "search.log"}
        if run_dir.exists()
        else set()
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["search.objective=eval/los"],
            "search.objective='eval/los' is not a metric of the train job; known: eval/loss, "
            "train/loss",
        ),
        (['train=["stage.learnin_rate=1e-4"]'], "stage.learnin_rate"),
        (["search/pruner=threshold"], "search.pruner.upper"),
    ],
    ids=[
        "misspelled-objective",
        "bad-train-key",
        "no-upper",
    ],  # the space: tests/sweeps/test_search.py
)
def test_bad_search_is_one_line_before_the_study(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    result = cli("search", "tracking=disabled", *overrides, run_dir=tmp_path / "run")
    errors = [x for x in result.stderr.splitlines() if x.startswith("bioqwen: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert message in errors[0]
    assert written(tmp_path / "run") == set()


@pytest.mark.slow
def test_two_workers_search_and_prune_into_one_summary(tmp_path: Path) -> None:
    run_dir = tmp_path / "search"
    result = search(
        run_dir,
        "workers=2",
        "trials=4",
        'search.params=["stage.learning_rate=choice(1e-6, 3e-2)"]',
        'search.enqueue=["stage.learning_rate=1e-6","stage.learning_rate=3e-2"]',
        "search/pruner=threshold",
        "search.pruner.upper=6.9",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="lr_lora", storage=storage(run_dir))
    states = {t.number: t.state.name for t in study.trials}
    assert len(states) == 4 and states[0] == "PRUNED" and states[1] == "COMPLETE"
    assert set(states.values()) <= {"PRUNED", "COMPLETE"}
    with open(run_dir / "sweep_summary.csv") as handle:
        rows = {int(r["point"]): r for r in csv.DictReader(handle)}
    for number, state in states.items():  # the summary says what the study says
        assert rows[number]["status"] == {"PRUNED": "pruned", "COMPLETE": "ok"}[state]
    assert rows[0]["reason"].startswith("pruned at step 3: eval/loss 6.9")
    pruned = json.loads((run_dir / "0" / "metrics.json").read_text())
    assert pruned["train/global_step"] == 3  # stopped at the evaluation that pruned it
    done = json.loads((run_dir / "1" / "metrics.json").read_text())
    assert done["train/global_step"] == 6 and study.best_value == done["eval/loss"] < 6.9
    pids = {json.loads((run_dir / str(n) / "status.json").read_text())["pid"] for n in states}
    assert len(pids) == 2  # both workers took trials
    markdown = (run_dir / "sweep_summary.md").read_text()
    assert "4 trials" in markdown and "pruned" in markdown
    assert f"optuna-dashboard {run_dir / JOURNAL_FILE}" in markdown
    assert (run_dir / "sweep_heatmap.png").is_file() and (
        run_dir / "sweep_loss_curves.png"
    ).is_file()
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["search/pruned"] >= 1 and summary["search/complete"] >= 1
