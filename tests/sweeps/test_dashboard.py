"""The W&B Report and workspace objects, built and checked offline (nothing is saved)."""

from __future__ import annotations

import pytest
import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws

from bioqwen.report import dashboard
from bioqwen.report.dashboard import DashboardSpec, build_report, build_workspace

SPEC = DashboardSpec(
    entity="lab",
    groups=["sweep-multirun-train-1", "tiny-qlora-sample"],
    benchmark_metric="ncbi/f1",
    tables={"Table 3": "| model | F1 |\n|---|---|\n| BioQwen | 0.5 |"},
    sweep_markdown="# Sweep 1\n\n4 points, 4 ok, 0 failed\n\n![heatmap](sweep_heatmap.png)",
)
# Both views show only the chosen groups' runs (wandb-workspaces keeps filters as this string).
GROUP_FILTER = f'Metric("Group") in {list(SPEC.groups)!r}'


def panel_keys(panels: list) -> list[tuple[str, tuple[str, ...]]]:
    return [(type(p).__name__, tuple(getattr(p, "y", None) or ())) for p in panels]


def test_report_sections_panels_and_run_filter() -> None:
    report = build_report(SPEC)
    headings = [b.text for b in report.blocks if isinstance(b, wr.H2)]
    assert headings == ["Train", "Performance", "Evaluation", "Paper tables", "Sweep summary"]
    train, perf, evaluation = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    assert panel_keys(train.panels) == [("LinePlot", ("train/loss",)), ("LinePlot", ("eval/loss",))]
    assert all(p.groupby == "Group" for p in train.panels + perf.panels)
    assert [p.y for p in perf.panels] == [["perf/tokens_per_s"], ["perf/step_time_s"]]
    (runset,) = train.runsets
    assert (runset.entity, runset.project, runset.groupby) == ("lab", "bioqwen", ["group"])
    assert runset.filters == GROUP_FILTER
    coordinates = next(p for p in evaluation.panels if isinstance(p, wr.ParallelCoordinatesPlot))
    axes = [c.metric.name for c in coordinates.columns]
    assert axes == [
        "stage.learning_rate", "method.lora.r", "method.lora.alpha", "eval/loss", "ncbi/f1"
    ]  # fmt: skip
    assert coordinates.columns[0].log and isinstance(coordinates.columns[0].metric, wr.Config)
    tables = [p.table_name for p in evaluation.panels if isinstance(p, wr.WeavePanelSummaryTable)]
    assert tables == ["sweep/summary"]
    markdown = [b.text for b in report.blocks if isinstance(b, wr.MarkdownBlock)]
    assert "| BioQwen | 0.5 |" in markdown[0] and "4 points, 4 ok" in markdown[1]
    assert "sweep_heatmap.png" not in markdown[1]  # a local file W&B cannot show


def test_workspace_sections_and_run_filter() -> None:
    workspace = build_workspace(SPEC)
    assert [s.name for s in workspace.sections] == ["Train", "Performance", "Evaluation"]
    assert all(s.is_open for s in workspace.sections)
    evaluation = [type(p).__name__ for p in workspace.sections[2].panels]
    assert evaluation == ["ParallelCoordinatesPlot", "WeavePanelSummaryTable", "MarkdownPanel"]
    assert workspace.runset_settings.filters == GROUP_FILTER
    view = workspace._to_model().model_dump_json()  # the wire form save() would send
    assert "sweep-multirun-train-1" in view and "perf/step_time_s" in view


def test_no_groups_shows_every_run() -> None:
    everything = DashboardSpec(entity="lab")
    assert dashboard.runset_filters(everything) == []
    evaluation = build_workspace(everything).sections[2].panels
    assert [c.metric.name for c in evaluation[0].columns][-1] == "eval/loss"


def test_publish_saves_both_views(monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[str] = []
    monkeypatch.setattr(wr.Report, "save", lambda self, **_: saved.append("report") or self)
    monkeypatch.setattr(ws.Workspace, "save", lambda self: saved.append("workspace") or self)
    monkeypatch.setattr(wr.Report, "url", property(lambda self: "https://wandb.ai/report"))
    monkeypatch.setattr(ws.Workspace, "url", property(lambda self: "https://wandb.ai/view"))
    assert dashboard.publish(SPEC) == ("https://wandb.ai/report", "https://wandb.ai/view")
    assert saved == ["report", "workspace"]
