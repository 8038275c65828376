"""W&B model artifacts and lineage links: offline files, the online link, the post-sync link."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bioqwen import artifacts
from bioqwen.errors import BioqwenError
from bioqwen.tracking import Tracker, start
from tests.conftest import offline_run


class FakeRun:
    """What the code under test asks of a live (online) W&B run."""

    id, project, entity = "abc123", "bioqwen", "lab"

    def __init__(self, refuse: bool = False) -> None:
        self.used: list[Any] = []
        self.refuse = refuse

    def use_artifact(self, artifact: Any) -> Any:
        if self.refuse:
            raise ValueError("artifact not found")
        self.used.append(artifact)
        return artifact


def test_a_directory_is_logged_by_reference_with_the_run_alias(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (adapter / "adapter_config.json").write_text("{}")
    tracker = start({"mode": "offline"}, tmp_path, {}, "train")
    run_id = tracker.run.id
    ref = artifacts.log_model(tracker, "m/stage 1", "adapter", {"adapter": adapter}, {"x": 1})
    tracker.finish()
    assert ref == f"m-stage-1:run-{run_id}"
    (logged,) = offline_run(tmp_path)["artifacts"]
    assert (logged["name"], logged["type"], logged["metadata"]) == (
        "m-stage-1",
        "adapter",
        {"x": 1},
    )
    assert {"latest", f"run-{run_id}"} <= set(logged["aliases"])
    assert logged["references"] == {
        "adapter/adapter_model.safetensors": f"file://{adapter.resolve()}/adapter_model.safetensors",
        "adapter/adapter_config.json": f"file://{adapter.resolve()}/adapter_config.json",
    }


def test_nothing_is_logged_or_linked_without_tracking(tmp_path: Path) -> None:
    off = Tracker(None)
    assert artifacts.log_model(off, "m", "model", {"x": tmp_path}, {}) is None
    assert artifacts.declare_inputs(off, [{"ref": "m:run-1"}]) is False
    assert artifacts.wandb_entry(off, [], False) is None


def test_online_inputs_are_linked_at_once_offline_ones_wait() -> None:
    run = FakeRun()
    base = artifacts.base_model_input("qwen2-0.5b", "Qwen/Qwen2-0.5B", "abc")
    assert base == {
        "name": "base-qwen2-0.5b",
        "type": "base-model",
        "uri": "https://huggingface.co/Qwen/Qwen2-0.5B/tree/abc",
    }
    assert artifacts.declare_inputs(Tracker(run), [base, {"ref": "s1-adapter:run-x"}]) is True
    draft, ref = run.used
    assert ref == "s1-adapter:run-x"
    # The base is a draft artifact referencing the hub revision (nothing downloaded).
    (entry,) = draft.manifest.entries.values()
    assert (draft.name, draft.type, entry.ref) == ("base-qwen2-0.5b", "base-model", base["uri"])
    offline = FakeRun()
    assert artifacts.declare_inputs(Tracker(offline, offline=True), [base]) is False
    assert offline.used == []


def test_an_input_missing_on_the_server_is_left_for_later(caplog) -> None:
    assert artifacts.declare_inputs(Tracker(FakeRun(refuse=True)), [{"ref": "s1:run-x"}]) is False
    assert "python -m bioqwen.artifacts" in caplog.text


def test_parent_input_names_the_first_logged_part() -> None:
    lineage = {"wandb": {"artifacts": {"adapter": "s1-adapter:run-a"}}}
    assert artifacts.parent_input(lineage, "merged", "adapter") == [{"ref": "s1-adapter:run-a"}]
    assert artifacts.parent_input({"wandb": None}, "merged") == []


def _run_dir(tmp_path: Path, name: str, entry: Any) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "lineage.json").write_text(json.dumps({"job": "train", "wandb": entry}))
    return directory


def test_link_after_sync_reopens_each_unlinked_run_once(tmp_path: Path) -> None:
    inputs = [{"ref": "s1-adapter:run-a"}]
    entry = {"run_id": "b", "project": "p", "entity": None, "inputs": inputs, "linked": False}
    stage2 = _run_dir(tmp_path, "stage2", entry)
    done = _run_dir(tmp_path, "done", {**entry, "linked": True})
    untracked = _run_dir(tmp_path, "untracked", None)
    opened: list[dict[str, Any]] = []
    run = FakeRun()

    @contextmanager
    def init(**kwargs: Any) -> Any:
        opened.append(kwargs)
        yield run

    assert artifacts.link_after_sync([stage2, done, untracked], init) == [stage2]
    assert opened == [
        {"id": "b", "project": "p", "entity": None, "resume": "must", "mode": "online"}
    ]
    assert run.used == ["s1-adapter:run-a"]
    assert json.loads((stage2 / "lineage.json").read_text())["wandb"]["linked"] is True
    assert artifacts.link_after_sync([stage2], init) == []  # linked once


def test_link_after_sync_names_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(BioqwenError, match=r"no lineage\.json"):
        artifacts.link_after_sync([tmp_path])


def test_link_after_sync_turns_a_wandb_refusal_into_one_line(tmp_path: Path) -> None:
    import wandb

    entry = {"run_id": "b", "project": "p", "entity": None, "inputs": [{"ref": "a:run-x"}]}
    stage2 = _run_dir(tmp_path, "stage2", {**entry, "linked": False})

    def init(**kwargs: Any) -> Any:
        raise wandb.errors.UsageError("No API key configured.")

    with pytest.raises(BioqwenError, match=r"W&B run b not linked: No API key configured"):
        artifacts.link_after_sync([stage2], init)
    assert json.loads((stage2 / "lineage.json").read_text())["wandb"]["linked"] is False
