"""Forgetting: the stage-1 tasks measured on the stage-1 model and on the stage-2 model after it.

A stage-1 task (NER, RE, MT: only NER has benchmarks today) evaluated at both stages of one
model is a `Pair`: the newest evaluation (or scored authors' file) of each stage on the same
benchmark. Stages are linked through lineage.json: a stage-2 evaluation's model run names its
stage-1 run in `init_from`, which is the model run of the stage-1 evaluation (scored authors'
files carry no lineage and pair by their model name). The report job scores each pair with the
score job's `compare=` (stage 2 against stage 1 over the same documents: paired bootstrap
p-values); `rows` turns that score run's metrics into the forgetting table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.report.runs import RunRecord, identity
from bioqwen.report.tables import MISSING, number
from bioqwen.runs import read_json
from bioqwen.tabular import csv_text, markdown_table

STAGE1_TASKS = ("ner", "re", "mt")
COLUMNS = ("model", "benchmark", "metric", "stage 1", "stage 2", "difference", "p_value", "run")


@dataclass(frozen=True)
class Pair:
    """One model's stage-1 and stage-2 runs on one stage-1 benchmark."""

    model: str
    benchmark: str
    stage1: RunRecord
    stage2: RunRecord

    def data_dir(self) -> str | None:
        """The gold data_dir the stage-2 run was scored against (None: the benchmark's)."""
        bench = self.stage2.config.get("benchmark") or {}
        return str(bench["data_dir"]) if bench.get("data_dir") else None


@dataclass(frozen=True)
class Row:
    """One metric of the forgetting table (difference = stage 2 - stage 1)."""

    model: str
    benchmark: str
    metric: str
    stage1: float | None
    stage2: float | None
    p_value: float | None
    run: str

    @property
    def difference(self) -> float | None:
        """Stage 2 minus stage 1, when both are numbers."""
        if self.stage1 is None or self.stage2 is None:
            return None
        return self.stage2 - self.stage1


def predictions_file(record: RunRecord) -> Path | None:
    """The predictions CSV behind an evaluate or score run, when it is still on disk."""
    if record.job == "evaluate":
        path = Path(record.path) / "predictions.csv"
    elif record.job == "score":
        path = Path(str(record.config.get("predictions", "")))
    else:
        return None
    return path if path.is_file() else None


def _model_run(record: RunRecord) -> Path | None:
    """The training run an evaluation's model came from (its lineage's first parent)."""
    parents = record.lineage.get("parents") or []
    if not parents:
        return None
    first = parents[0]
    return Path(str(first.get("run") if isinstance(first, Mapping) else first)).resolve()


def stage1_run(record: RunRecord, stage: str) -> Path | None:
    """The stage-1 training run behind an evaluation: its own model run at stage 1, the model
    run's `init_from` at stage 2; None without lineage."""
    model_run = _model_run(record)
    if model_run is None or stage == "stage1":
        return model_run
    lineage = model_run / "lineage.json"
    try:
        init_from = read_json(lineage).get("init_from") if lineage.is_file() else None
    except (ValueError, OSError):
        return None
    return Path(str(init_from)).resolve() if init_from else None


def _task(record: RunRecord) -> str | None:
    bench = record.config.get("benchmark")
    return str(bench.get("task")) if isinstance(bench, Mapping) else None


def pairs(records: Iterable[RunRecord], labels: Mapping[str, Any]) -> list[Pair]:
    """Every (model, benchmark) measured at both stages on a stage-1 task (newest run each)."""
    newest: dict[tuple[str, str, str, str], RunRecord] = {}
    for record in sorted(records, key=lambda r: r.mtime):
        if _task(record) not in STAGE1_TASKS or predictions_file(record) is None:
            continue
        who = identity(record, labels)
        if who.stage not in ("stage1", "stage2") or record.benchmark is None:
            continue
        root = stage1_run(record, who.stage)
        newest[(who.model, record.benchmark, str(root), who.stage)] = record
    found = []
    for (model, benchmark, chain, stage), second in newest.items():
        first = newest.get((model, benchmark, chain, "stage1"))
        if stage == "stage2" and first is not None:
            found.append(Pair(model, benchmark, first, second))
    return found


def rows(pair: Pair, metrics: Mapping[str, Any], run: str) -> list[Row]:
    """The table rows of one pair from its `score ... compare=<stage 1>` metrics: macro F1 (with
    several entity types) and every type's F1, stage 2 against stage 1."""
    types = sorted(k for k in metrics if k.startswith("f1/") and k.count("/") == 1)
    names = (["macro_f1"] if len(types) > 1 else []) + types
    return [
        Row(
            pair.model,
            pair.benchmark,
            name,
            number(metrics.get(f"compare/{name}")),
            number(metrics.get(name)),
            number(metrics.get(f"{name}/p_value")),
            run,
        )
        for name in names
    ]


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return MISSING
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _cells(row: Row) -> list[str]:
    return [
        row.model,
        row.benchmark,
        row.metric,
        _fmt(row.stage1),
        _fmt(row.stage2),
        _fmt(row.difference, signed=True),
        MISSING if row.p_value is None else f"{row.p_value:.3g}",
    ]


def to_markdown(table: Sequence[Row]) -> str:
    """The forgetting table as Markdown (without the score runs: report.md names them)."""
    header = ["model", "benchmark", "metric", "stage 1", "stage 2", "stage 2 - stage 1", "p"]
    body = markdown_table(header, [_cells(row) for row in table])
    return f"### Forgetting: stage-1 tasks, stage 1 vs stage 2\n\n{body}\n"


def to_csv(table: Sequence[Row]) -> str:
    """tables/forgetting.csv: model,benchmark,metric,stage 1,stage 2,difference,p_value,run."""
    rows = []
    for row in table:
        values = (row.stage1, row.stage2, row.difference, row.p_value)
        full = [MISSING if v is None else round(v, 6) for v in values]
        rows.append([row.model, row.benchmark, row.metric, *full, row.run])
    return csv_text(COLUMNS, rows)


def train_chains(records: Iterable[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """(stage 1, stage 2) train runs where the stage-2 run started from the stage-1 run."""
    trains = [r for r in records if r.job == "train"]
    by_path = {Path(r.path).resolve(): r for r in trains}
    chains = []
    for record in trains:
        init_from = record.lineage.get("init_from")
        first = by_path.get(Path(str(init_from)).resolve()) if init_from else None
        if first is not None:
            chains.append((first, record))
    return chains
