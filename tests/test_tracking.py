from pathlib import Path

import pytest

from bioqwen import tracking
from bioqwen.errors import BioqwenError
from tests.conftest import compose_config


def settings(kind: str, **changes: object) -> dict:
    """The composed tracking config of `kind` (conf/tracking/<kind>.yaml), with changes."""
    name = {"online": "wandb"}.get(kind, kind)
    node = compose_config("prepare", f"tracking={name}").tracking
    return {**dict(node), **changes}


def test_offline_run_writes_files_in_run_dir_that_read_back(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    tracker = tracking.start(
        settings("offline", tags=["extra"]),
        tmp_path,
        {"lr": 2e-4, "stage": {"name": "stage1"}},
        "prepare",
        name="t",
        group="g",
        tags=["mix:sample"],
    )
    tracker.log({"loss": 1.0})
    # Enough rows that the record file spans several 32 KiB blocks.
    for step in range(400):
        tracker.log({"train/loss": 1.0 / (step + 1), "note": "x" * 200}, step=step + 1)
    summary = {"final": 3, "perf/tokens_per_s": 1234.5, "precision": "fp32"}
    tracker.summary(summary)
    run_path = Path(tracker.run_path)
    tracker.finish()
    assert run_path.parent == tmp_path / "wandb" and run_path.name.startswith("offline-run-")
    (record_file,) = run_path.glob("*.wandb")
    assert record_file.stat().st_size > 32768
    run = tracking.read_offline_run(run_path)
    assert run["complete"] and (run["name"], run["group"]) == ("t", "g")
    assert run["exit_code"] == 0
    assert run["tags"] == ["extra", "job:prepare", "mix:sample"]
    assert run["config"]["lr"] == 2e-4 and run["config"]["stage"] == {"name": "stage1"}
    assert {k: run["summary"][k] for k in summary} == summary
    assert run["history"][0]["loss"] == 1.0 and len(run["history"]) == 401
    # A resumed job finds this run's id (and none where no run was tracked).
    assert tracking.previous_run_id(tmp_path) == run_path.name.split("-")[3]
    assert tracking.previous_run_id(tmp_path / "elsewhere") is None
    assert run["history"][-1]["train/loss"] == 1.0 / 400


def test_disabled_writes_nothing(tmp_path):
    tracker = tracking.start(settings("disabled"), tmp_path, {}, "prepare")
    tracker.log({"loss": 1.0})
    tracker.finish()
    assert not tracker.enabled and list(tmp_path.iterdir()) == []


def test_a_run_file_still_being_written_reads_as_incomplete(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    tracker = tracking.start(settings("offline"), tmp_path / "job", {}, "prepare", name="t")
    for step in range(100):
        tracker.log({"loss": float(step), "note": "x" * 200}, step=step)
    run_path = Path(tracker.run_path)
    tracker.finish()
    (record_file,) = run_path.glob("*.wandb")
    data = record_file.read_bytes()
    partial = tmp_path / "partial"
    partial.mkdir()
    # Cut inside a record: what a reader sees while wandb-core is still writing.
    (partial / record_file.name).write_bytes(data[: len(data) * 2 // 3 + 3])
    run = tracking.read_offline_run(partial)
    assert not run["complete"] and 0 < len(run["history"]) < 100


def test_an_unknown_mode_is_a_user_error_naming_the_key(tmp_path):
    with pytest.raises(BioqwenError, match=r"tracking\.mode='ofline'"):
        tracking.start(settings("offline", mode="ofline"), tmp_path, {}, "prepare")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("gpu", [True, False])
def test_system_stats_are_sampled_on_gpu_machines_only(tmp_path, monkeypatch, gpu):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setattr(tracking, "_has_gpu", lambda: gpu)
    tracker = tracking.start(settings("offline"), tmp_path, {}, "prepare", name="t")
    try:
        assert tracker.run.settings.x_disable_stats is (not gpu)
    finally:
        tracker.finish()
