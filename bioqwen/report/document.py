"""The report's files (tables/<table>.{md,csv,wide.csv,tex}, report.md, runs.json), its metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bioqwen.report import forgetting, plots, verdicts
from bioqwen.report import tables as t
from bioqwen.report.runs import RunRecord, Skipped
from bioqwen.runs import atomic_write_json, atomic_write_text


def write_tables(
    directory: Path, filled: Sequence[t.Table], forgotten: Sequence[forgetting.Row] = ()
) -> list[Path]:
    """Every table in its four forms under directory/tables/, and the forgetting table."""
    out = directory / "tables"
    written = []
    if forgotten:
        written += [
            atomic_write_text(out / "forgetting.md", forgetting.to_markdown(forgotten)),
            atomic_write_text(out / "forgetting.csv", forgetting.to_csv(forgotten)),
        ]
    for table in filled:
        name = table.spec.name
        written += [
            atomic_write_text(out / f"{name}.md", t.to_markdown(table)),
            atomic_write_text(out / f"{name}.csv", t.to_long_csv(table)),
            atomic_write_text(out / f"{name}.wide.csv", t.to_wide_csv(table)),
            atomic_write_text(out / f"{name}.tex", t.to_latex(table)),
        ]
    return written


def write_runs(directory: Path, records: Sequence[RunRecord], skipped: Sequence[Skipped]) -> Path:
    """runs.json: every run read (job, benchmark) and every skip with its reason."""
    return atomic_write_json(
        directory / "runs.json",
        {
            "runs": [{"path": r.path, "job": r.job, "benchmark": r.benchmark} for r in records],
            "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        },
    )


def write_markdown(
    directory: Path,
    filled: Sequence[t.Table],
    figures: Sequence[Path],
    records: Sequence[RunRecord],
    skipped: Sequence[Skipped],
    source: str,
    sweeps: str = "",
    forgotten: Sequence[forgetting.Row] = (),
) -> Path:
    """report.md: the verdicts, every table (ours / paper / difference), the forgetting table,
    the figures, the sweeps (Markdown from bioqwen.sweeps), the runs and the skips."""
    parts = [
        "# bioqwen report: ours beside the paper",
        "",
        f"{len(records)} runs read from {source}; {len(skipped)} skipped. Each row shows ours, "
        "then the paper's value and the difference (ours - paper) where the paper has one; "
        f"{t.MISSING} = no value. Published values: conf/paper/.",
        "",
    ]
    parts += _interval_note(filled)
    parts += _verdict_section(filled)
    for table in filled:
        parts += [t.to_markdown(table)]
        used = sorted({run for runs in table.sources.values() for run in runs})
        if used:
            parts += [f"Runs: {', '.join(f'`{u}`' for u in used)}", ""]
    parts += _forgetting_section(forgotten, figures)
    # The eval-loss curves sit with the forgetting table when there is one.
    others = [f for f in figures if not (forgotten and f.name == plots.FORGETTING_FIGURE)]
    if others:
        parts += ["## Figures", ""]
        parts += [f"![{f.stem}](figures/{f.name})" for f in others] + [""]
    if sweeps:
        parts += ["## Sweeps", "", sweeps]
    if skipped:
        parts += ["## Skipped", ""] + [f"- `{s.path}`: {s.reason}" for s in skipped] + [""]
    return atomic_write_text(directory / "report.md", "\n".join(parts))


def _forgetting_section(forgotten: Sequence[forgetting.Row], figures: Sequence[Path]) -> list[str]:
    """The forgetting table, what its p-value is, the score runs, and the eval-loss figure."""
    if not forgotten:
        return []
    used = sorted({row.run for row in forgotten})
    curves = [f for f in figures if f.name == plots.FORGETTING_FIGURE]
    return [
        "## Forgetting",
        "",
        "Each stage-1 task metric of a model evaluated at both stages on the same documents: "
        "p is the paired bootstrap p-value of stage 2 against stage 1 (`bioqwen score ... "
        "compare=`), two-sided; a small p says the difference is more than resampling noise.",
        "",
        forgetting.to_markdown(forgotten),
        f"Score runs: {', '.join(f'`{u}`' for u in used)}",
        "",
        *[f"![{f.stem}](figures/{f.name})" for f in curves],
        *([""] if curves else []),
    ]


def _verdict_section(filled: Sequence[t.Table]) -> list[str]:
    """The reproduction verdicts: one line per table with published values, and their rule."""
    lines = [
        f"- {verdicts.summary_line(table.spec.title, verdicts.table_verdicts(table))}"
        for table in filled
        if table.spec.published
    ]
    if not lines:
        return []
    return [
        "## Reproduction verdicts",
        "",
        "A cell of ours beside a published value is `reproduced` when the published value lies "
        "inside our bootstrap interval, or, without an interval, within its column's tolerance "
        "in conf/paper/ (text cells: equal); else `not reproduced`, with the gap from the "
        "published value to our interval's nearer end in interval widths (or how far ours is off, "
        "beside the tolerance). A cell with neither interval nor tolerance is `no interval`.",
        "",
        *lines,
        "",
    ]


def _interval_note(filled: Sequence[t.Table]) -> list[str]:
    """The one sentence that says what the bracketed intervals are (none without any)."""
    levels = sorted({c for table in filled if table.intervals for c in table.confidences})
    if not levels:
        return []
    coverage = " / ".join(f"{100 * c:g} %" for c in levels)
    return [
        f"A bracket after our value is its {coverage} bootstrap interval over the benchmark's "
        "questions (QA) or documents (NER); 50 questions (the shipped samples) is a small "
        "sample, so the intervals are wide and a published value inside one is consistent "
        "with ours.",
        "",
    ]


def log_to_tracker(tracker: Any, filled: Sequence[t.Table], figures: Sequence[Path]) -> None:
    """The long tables and the figures in the report's W&B run."""
    if not tracker.enabled:
        return
    import wandb

    for table in filled:
        rows = [[None if v == t.MISSING else v for v in r] for r in t.long_rows(table)]
        # Precision cells are text among numbers: a mixed-type table.
        data = wandb.Table(columns=list(t.LONG_COLUMNS), data=rows, allow_mixed_types=True)
        tracker.log({f"tables/{table.spec.name}": data})
    tracker.log({f"figures/{f.stem}": wandb.Image(str(f)) for f in figures})


def summary(
    filled: Sequence[t.Table],
    records: Sequence[RunRecord],
    skipped: Sequence[Skipped],
    figures: Sequence[Path],
) -> dict[str, Any]:
    """metrics.json of a report: counts, and the largest |ours - paper| per table."""
    metrics: dict[str, Any] = {
        "report/runs": len(records),
        "report/skipped": len(skipped),
        "report/figures": len(figures),
        "report/cells": sum(len(table.ours) for table in filled),
    }
    difference = t.LONG_COLUMNS.index("difference")
    for table in filled:
        judged = verdicts.table_verdicts(table)
        if judged:
            metrics[f"report/{table.spec.name}/verdict_cells"] = len(judged)
            metrics[f"report/{table.spec.name}/reproduced"] = sum(
                v.verdict == verdicts.REPRODUCED for v in judged
            )
        differences = [
            abs(r[difference]) for r in t.long_rows(table) if not isinstance(r[difference], str)
        ]
        if differences:
            metrics[f"report/{table.spec.name}/cells_with_published"] = len(differences)
            metrics[f"report/{table.spec.name}/max_abs_difference"] = max(differences)
    return metrics
