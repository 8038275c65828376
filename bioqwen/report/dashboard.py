"""W&B dashboards built with `wandb-workspaces`: a Report and a saved workspace view.

Building touches no network: `build_report` and `build_workspace` return plain objects whose
panels and run filters can be checked offline. `publish` is the one online call (it needs
WANDB_API_KEY and the runs synced with `wandb sync`). Both views show the same things:

- Train: train and eval loss curves, one line per run group (a sweep is one group);
- Performance: tokens/s and optimizer step time;
- Evaluation: the paper tables, parallel coordinates of learning rate, LoRA r and alpha
  against eval loss and a benchmark metric, and the sweep summary table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What each section plots (W&B keys as the train job logs them).
TRAIN_KEYS = ("train/loss", "eval/loss")
PERF_KEYS = ("perf/tokens_per_s", "perf/step_time_s")
HYPERPARAMETERS = (
    ("stage.learning_rate", "learning rate", True),
    ("method.lora.r", "LoRA r", False),
    ("method.lora.alpha", "LoRA alpha", False),
)
SWEEP_TABLE = "sweep/summary"  # the table the sweep callback logs
SECTIONS = ("Train", "Performance", "Evaluation")


@dataclass(frozen=True)
class DashboardSpec:
    """Which runs a dashboard shows and what it adds to them."""

    entity: str
    project: str = "bioqwen"
    groups: Sequence[str] = ()  # W&B run groups to show (a sweep's group); () = every run
    benchmark_metric: str | None = None  # a summary key, e.g. "ner/f1", beside eval loss
    tables: Mapping[str, str] | None = None  # title -> Markdown (the report job's paper tables)
    sweep_markdown: str | None = None  # sweep_summary.md of a sweep, shown as text
    title: str = "bioqwen runs"


def runset_filters(spec: DashboardSpec) -> list[Any]:
    """The run filter both views share: the chosen groups."""
    from wandb_workspaces import expr

    return [expr.Metric("Group").isin(list(spec.groups))] if spec.groups else []


def _panels(spec: DashboardSpec) -> dict[str, list[Any]]:
    """The panels of each section (report classes; the workspace takes the same ones)."""
    import wandb_workspaces.reports.v2 as wr

    def curves(key: str) -> Any:
        return wr.LinePlot(title=key, x="Step", y=[key], groupby="Group", smoothing_factor=0.0)

    columns = [
        wr.ParallelCoordinatesPlotColumn(metric=wr.Config(key), display_name=name, log=log)
        for key, name, log in HYPERPARAMETERS
    ]
    targets = ["eval/loss", *([spec.benchmark_metric] if spec.benchmark_metric else [])]
    columns += [wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(m)) for m in targets]
    evaluation: list[Any] = [
        wr.ParallelCoordinatesPlot(
            title="hyperparameters -> " + ", ".join(targets), columns=columns
        ),
        wr.WeavePanelSummaryTable(table_name=SWEEP_TABLE),
    ]
    evaluation += [
        wr.MarkdownPanel(markdown=f"### {title}\n\n{text}")
        for title, text in (spec.tables or {}).items()
    ]
    return {
        "Train": [curves(key) for key in TRAIN_KEYS],
        "Performance": [curves(key) for key in PERF_KEYS],
        "Evaluation": evaluation,
    }


def build_report(spec: DashboardSpec) -> Any:
    """The W&B Report (not saved): one heading and panel grid per section."""
    import wandb_workspaces.reports.v2 as wr

    runset = wr.Runset(
        entity=spec.entity,
        project=spec.project,
        name=", ".join(spec.groups) or "all runs",
        filters=runset_filters(spec),
        groupby=["group"],
    )
    blocks: list[Any] = [wr.P(text=f"Runs of {spec.entity}/{spec.project}, grouped by run group.")]
    for section, panels in _panels(spec).items():
        blocks += [wr.H2(text=section), wr.PanelGrid(runsets=[runset], panels=panels)]
    if spec.tables:
        blocks += [wr.H2(text="Paper tables")]
        blocks += [wr.MarkdownBlock(text=f"### {t}\n\n{md}") for t, md in spec.tables.items()]
    if spec.sweep_markdown:
        # Its figures are files next to it: the W&B table and images come from the sweep run.
        text = "\n".join(x for x in spec.sweep_markdown.splitlines() if not x.startswith("!["))
        blocks += [wr.H2(text="Sweep summary"), wr.MarkdownBlock(text=text)]
    return wr.Report(
        entity=spec.entity,
        project=spec.project,
        title=spec.title,
        description="Train and eval loss, throughput, hyperparameters and sweep summary.",
        blocks=blocks,
    )


def build_workspace(spec: DashboardSpec) -> Any:
    """The saved workspace view (not saved): sections Train, Performance, Evaluation."""
    import wandb_workspaces.workspaces as ws

    sections = [
        ws.Section(name=name, panels=panels, is_open=True) for name, panels in _panels(spec).items()
    ]
    return ws.Workspace(
        entity=spec.entity,
        project=spec.project,
        name=spec.title,
        sections=sections,
        runset_settings=ws.RunsetSettings(filters=runset_filters(spec), groupby=[_group_key()]),
    )


def _group_key() -> Any:
    from wandb_workspaces import expr

    return expr.Metric("Group")


def publish(spec: DashboardSpec) -> tuple[str, str]:
    """Save the report and the workspace to W&B (online); their URLs."""
    report = build_report(spec)
    report.save()
    workspace = build_workspace(spec)
    workspace.save()
    return str(report.url), str(workspace.url)
