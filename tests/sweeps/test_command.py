"""`bioqwen sweep status|summarize <sweep dir>` on sweep directories (no cluster needed: the
recorded states are read back; the real-SLURM test drives it against a live array)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioqwen.sweeps import command
from tests.sweeps.test_summary import make_point, ok


@pytest.fixture
def detached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SLURM sweep whose command returned at once: one point done, one cancelled pending."""
    monkeypatch.setattr(command.cluster, "available", lambda: False)  # states as recorded
    done = make_point(tmp_path, 0, ["stage.learning_rate=1e-4"], *ok(2.0))
    (done / "slurm.json").write_text(json.dumps({"job_id": "9_0", "state": "COMPLETED"}))
    gone = make_point(tmp_path, 1, ["stage.learning_rate=3e-3"], None, None)
    (gone / "slurm.json").write_text(json.dumps({"job_id": "9_1", "state": "CANCELLED"}))
    return tmp_path


def test_status_lists_each_point_with_its_job(detached: Path, capsys) -> None:
    command.main(["status", str(detached)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["0", "9_0", "COMPLETED", "ok", "stage.learning_rate=1e-4"]
    assert lines[2].split() == ["1", "9_1", "CANCELLED", "cancelled", "stage.learning_rate=3e-3"]
    assert lines[-1] == "2 of 2 points ended"


def test_summarize_writes_the_summary(detached: Path, capsys) -> None:
    command.main(["summarize", str(detached)])
    assert "2 points, 1 ok, 1 cancelled" in (detached / "sweep_summary.md").read_text()
    assert str(detached / "sweep_heatmap.png") in capsys.readouterr().out


@pytest.mark.parametrize("args", [[], ["stats", "."], ["status"], ["status", "/no/such/dir"]])
def test_usage_errors_are_one_line(args: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        command.main(args)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("bioqwen: error: ")
