from pathlib import Path

from bioqwen import tracking


def test_offline_run_writes_files_in_run_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    tracker = tracking.start({"mode": "offline"}, tmp_path, {"lr": 2e-4}, "prepare", name="t")
    tracker.log({"loss": 1.0})
    tracker.summary({"final": 3})
    run_path = Path(tracker.run_path)
    tracker.finish()
    assert run_path.parent == tmp_path / "wandb" and run_path.name.startswith("offline-run-")
    assert list(run_path.glob("*.wandb"))


def test_disabled_writes_nothing(tmp_path):
    tracker = tracking.start({"mode": "disabled"}, tmp_path, {}, "prepare")
    tracker.log({"loss": 1.0})
    tracker.finish()
    assert not tracker.enabled and list(tmp_path.iterdir()) == []
