"""The report job's sweep section and W&B publishing, through the job's run function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.jobs import report
from bioqwen.jobs.common import execute
from tests.conftest import compose_config
from tests.sweeps.test_summary import make_point


def _sweep(root: Path) -> Path:
    sweep = root / "sweep"
    for num, (lr, r) in enumerate([(1e-4, 8), (1e-4, 16), (3e-4, 8), (3e-4, 16)]):
        loss = 2.0 + num / 10
        make_point(
            sweep,
            num,
            [f"stage.learning_rate={lr}", f"method.lora.r={r}"],
            {"eval/loss": loss, "train/final_loss": loss + 0.1, "perf/tokens_per_s": 100.0},
            {"status": "ok"},
        )
    return sweep


def test_a_sweep_directory_becomes_a_report_section_with_its_figures(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    cfg = compose_config(
        "report",
        f"report.runs={tmp_path}/none/**",
        f"report.sweeps=[{sweep}]",
        "report.figures=false",
    )
    metrics = execute(report.run, cfg, tmp_path / "out")
    assert metrics["report/sweeps"] == 1 and metrics["report/runs"] == 0
    text = (tmp_path / "out" / "report.md").read_text("utf-8")
    section = text[text.index("## Sweeps") :]
    assert "4 points, 4 ok, 0 failed" in section
    for link in ("sweeps/0-sweep/sweep_heatmap.png", "sweeps/0-sweep/sweep_loss_curves.png"):
        assert f"]({link})" in section
        assert (tmp_path / "out" / link).stat().st_size > 1000


def test_a_directory_that_is_not_a_sweep_is_named(tmp_path: Path) -> None:
    cfg = compose_config("report", f"report.sweeps=[{tmp_path}]")
    with pytest.raises(BioqwenError, match=f"report.sweeps: {tmp_path}: not a sweep"):
        execute(report.run, cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_publish_wandb_hands_the_tables_and_sweep_to_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_publish(spec: Any) -> tuple[str, str]:
        seen["spec"] = spec
        return "https://report", "https://workspace"

    monkeypatch.setattr("bioqwen.report.dashboard.publish", fake_publish)
    sweep = _sweep(tmp_path)
    overrides = [f"report.runs={tmp_path}/none/**", f"report.sweeps=[{sweep}]"]
    overrides += ["report.figures=false", "report.publish=wandb", "report.group=demo"]
    with pytest.raises(BioqwenError, match=r"needs tracking\.entity"):
        execute(report.run, compose_config("report", *overrides), tmp_path / "a")
    assert not (tmp_path / "a").exists()  # checked before anything is written
    cfg = compose_config("report", *overrides, "tracking.entity=lab")
    execute(report.run, cfg, tmp_path / "b")
    spec = seen["spec"]
    assert (spec.entity, spec.project, list(spec.groups)) == ("lab", "bioqwen", ["demo"])
    assert "Table 3: cMedQA2 QA and INT4" in spec.tables
    assert "4 points, 4 ok" in spec.sweep_markdown
