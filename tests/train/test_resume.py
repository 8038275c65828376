"""Checkpoints and resume: a run killed after or during a checkpoint save, or stopped by a full
disk, continues from its newest complete checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.tracking import read_offline_run
from bioqwen.train.resume import COMPLETE, config_changes, mark_complete, newest_checkpoint
from tests.conftest import cli
from tests.train.conftest import FAST, ROOT, run_train

STEPS = 8
SETTINGS = (*FAST, f"stage.max_steps={STEPS}", "stage.save_steps=2", "stage.eval_steps=0")


def _losses(run_dir: Path) -> dict[int, float]:
    state = json.loads(
        (run_dir / "checkpoints" / f"checkpoint-{STEPS}" / "trainer_state.json").read_text()
    )
    return {row["step"]: row["loss"] for row in state["log_history"] if "loss" in row}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, mix_dir: Path) -> dict[int, float]:
    """The losses of an uninterrupted run with the same settings."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    run_train(run_dir, mix_dir, *SETTINGS)
    return _losses(run_dir)


def _interrupted(run_dir: Path, mix_dir: Path, how: str, step: int) -> tuple[list[str], Any]:
    """Train into run_dir, interrupted at checkpoint `step` (interrupt_checkpoint.py)."""
    args = [*SETTINGS, f"data_dir={mix_dir}", "tracking=offline", f"hydra.run.dir={run_dir}"]
    # WANDB_SERVICE (set once this worker has tracked a run) would make both jobs share the
    # worker's wandb-core, which keeps the killed job's run open: "run ID ... is in use".
    # A job of its own gets a service of its own that dies with it, as on the command line.
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_SERVICE")}
    script = str(Path(__file__).with_name("interrupt_checkpoint.py"))
    done = subprocess.run(
        [sys.executable, script, how, str(step), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return args, done


def _resumes_to_the_end(
    run_dir: Path, args: list[str], reference: dict[int, float], start: int
) -> subprocess.CompletedProcess[str]:
    """resume=true finishes the run from checkpoint-`start`, with the reference's losses."""
    resumed = cli("train", *args, "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train/global_step"] == STEPS
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert lineage["resumed_from"].endswith(f"checkpoint-{start}")
    got = _losses(run_dir)
    assert sorted(got) == sorted(reference) == list(range(1, STEPS + 1))
    # Steps before the interruption (another process) match too: the seed fixes the adapter
    # initialisation, dropout and data order.
    for step in range(1, STEPS + 1):
        assert got[step] == pytest.approx(reference[step], rel=1e-4), step
    return resumed


def test_killed_run_resumes_from_newest_checkpoint(
    tmp_path: Path, mix_dir: Path, reference: dict[int, float]
) -> None:
    killed = tmp_path / "killed"
    args, done = _interrupted(killed, mix_dir, "after", 4)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    checkpoints = sorted(p.name for p in (killed / "checkpoints").glob("checkpoint-*"))
    assert checkpoints[-1] == "checkpoint-4" and not (killed / "metrics.json").exists()

    _resumes_to_the_end(killed, args, reference, 4)
    # The resumed job continues the killed job's W&B run (same id, a second offline directory
    # that `wandb sync` uploads into it); its summary is metrics.json.
    metrics = json.loads((killed / "metrics.json").read_text())
    runs = sorted(killed.glob("wandb/offline-run-*"), key=lambda p: p.stat().st_mtime)
    assert len(runs) == 2 and runs[0].name.split("-")[3] == runs[1].name.split("-")[3]
    resumed_run = read_offline_run(runs[1])
    assert resumed_run["complete"]
    assert {k: resumed_run["summary"].get(k) for k in metrics} == metrics
    assert sorted(row["_step"] for row in resumed_run["history"]) == list(range(5, STEPS + 1))


def test_a_kill_during_a_checkpoint_save_resumes_from_the_previous_complete_one(
    tmp_path: Path, mix_dir: Path, reference: dict[int, float]
) -> None:
    killed = tmp_path / "killed"
    args, done = _interrupted(killed, mix_dir, "during", 4)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    torn = killed / "checkpoints" / "checkpoint-4"
    assert torn.is_dir() and not (torn / "trainer_state.json").exists()  # weights only
    resumed = _resumes_to_the_end(killed, args, reference, 2)
    assert f"skipping {torn}: an incomplete checkpoint" in resumed.stdout + resumed.stderr


@pytest.mark.slow
def test_a_full_disk_during_a_save_is_one_error_line_and_a_later_resume_works(
    tmp_path: Path, mix_dir: Path, reference: dict[int, float]
) -> None:
    run_dir = tmp_path / "run"
    args, done = _interrupted(run_dir, mix_dir, "full", 4)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("bioqwen: error:")]
    torn = run_dir / "checkpoints" / "checkpoint-4"
    assert len(errors) == 1 and f"{torn}: no space left on device" in errors[0], done.stderr
    assert "Traceback" not in done.stderr and not torn.exists()  # its partial files freed
    _resumes_to_the_end(run_dir, args, reference, 2)


def test_a_resume_with_other_settings_stops_and_the_original_config_stays(
    tmp_path: Path, mix_dir: Path
) -> None:
    run_dir = tmp_path / "run"
    settings = ("stage.max_steps=2", "stage.save_steps=2", "stage.eval_steps=0")
    run_train(run_dir, mix_dir, *settings)
    original = (run_dir / "config.yaml").read_text()
    with pytest.raises(BioqwenError, match=r"stage\.learning_rate: 0\.0002 -> 0\.001"):
        run_train(run_dir, mix_dir, *settings, "resume=true", "stage.learning_rate=1e-3")
    assert (run_dir / "config.yaml").read_text() == original
    # Only resume-neutral keys differ: it resumes, keeping config.yaml and saving its own beside.
    run_train(run_dir, mix_dir, *settings, "resume=true")
    assert (run_dir / "config.yaml").read_text() == original
    assert "resume: true" in (run_dir / "config.resume-1.yaml").read_text()


def test_a_changed_enum_setting_is_named_as_the_strings_config_yaml_holds(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from bioqwen.train.resume import check_resume_config
    from tests.conftest import compose_config

    saved = compose_config("train", "model=tiny", "stage.batching=pad")
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(saved, resolve=True))
    resumed = compose_config("train", "model=tiny", "stage.batching=packed")
    with pytest.raises(BioqwenError, match=r"stage\.batching: 'pad' -> 'packed'"):
        check_resume_config(tmp_path, resumed)


@pytest.mark.parametrize(
    ("text", "named"),
    [("model: [unclosed\n", "unreadable saved config"), ("- a list\n", "not a saved config")],
)
def test_a_malformed_config_yaml_stops_a_resume_naming_it(
    tmp_path: Path, mix_dir: Path, text: str, named: str
) -> None:
    checkpoint = tmp_path / "checkpoints" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / COMPLETE).write_text('{"step": 2}')
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(BioqwenError) as err:
        run_train(tmp_path, mix_dir, "resume=true")
    assert f"{tmp_path / 'config.yaml'}: {named}" in str(err.value)
    assert (tmp_path / "config.yaml").read_text() == text


def test_resume_takes_the_newest_complete_checkpoint_and_names_those_it_skips(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "checkpoints"
    for step in (2, 10, 12):  # checkpoint-10 sorts by number, not name
        (folder / f"checkpoint-{step}").mkdir(parents=True)
    mark_complete(folder / "checkpoint-2", 2)
    mark_complete(folder / "checkpoint-10", 10)
    with caplog.at_level("WARNING", logger="bioqwen.train"):
        assert newest_checkpoint(tmp_path) == str(folder / "checkpoint-10")
    assert f"skipping {folder / 'checkpoint-12'}: an incomplete checkpoint" in caplog.text
    (folder / "checkpoint-2" / COMPLETE).unlink()
    (folder / "checkpoint-10" / COMPLETE).unlink()
    with pytest.raises(BioqwenError, match=r"no checkpoint-\* under .* is complete \(3 incomplete"):
        newest_checkpoint(tmp_path)


def test_waiting_for_the_run_directory_is_resume_neutral() -> None:
    saved = {"seed": 42, "stage": {"learning_rate": 2e-4}}  # a run saved before `wait` existed
    assert config_changes(saved, {**saved, "wait": True}) == []
    assert config_changes(saved, {**saved, "seed": 1}) == ["seed: 42 -> 1"]
