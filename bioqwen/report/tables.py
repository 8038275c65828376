"""The paper's tables filled from runs: ours beside the published value and the difference.

`build_table` places every run's metrics in the cell (row, column) the paper uses; the newest
run wins a cell that several runs fill. Rows are the paper's rows in the paper's order (shown
even with no run of ours), then our other rows. A cell without a value is missing ("—"),
never zero. A cell whose run wrote a bootstrap interval (`<key>/ci_low`, `<key>/ci_high`,
bioqwen.eval.bootstrap) keeps it: Markdown and wide CSV show it after our value, the long CSV
in its `ci_low,ci_high` columns; LaTeX leaves it out (ten intervals a row would not fit a
page). Every cell of ours beside a published value gets a reproduction verdict
(bioqwen/report/verdicts.py): a `verdict` line under the row and the row's count in the
`verdict` column of the wide layouts, `verdict,gap` columns in the long CSV. Renderers:
Markdown, wide CSV, LaTeX (booktabs) and the long CSV
`table,row,column,value,published,difference,ci_low,ci_high,verdict,gap`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bioqwen.report import verdicts
from bioqwen.report.published import Cell, Column, TableSpec
from bioqwen.report.runs import Identity, RunRecord, identity
from bioqwen.tabular import csv_text, markdown_table

MISSING = "—"
LONG_COLUMNS = (
    *("table", "row", "column", "value", "published", "difference", "ci_low", "ci_high"),
    *("verdict", "gap"),
)
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
_WEIGHTS = ("*.safetensors", "*.bin", "*.gguf")


@dataclass
class Table:
    """A filled table: row labels in order, our cells and the run behind each."""

    spec: TableSpec
    rows: list[str]
    ours: dict[tuple[str, str], Cell] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)  # row -> runs that filled it
    intervals: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    confidences: set[float] = field(default_factory=set)  # bootstrap.confidence of the intervals

    def cell(self, row: str, column: str) -> tuple[Cell, Cell, float | int | None]:
        """(ours, published, difference) of one cell; difference only when both are numbers."""
        ours = self.ours.get((row, column))
        published = self.spec.published_cell(row, column)
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (ours, published)
        ):
            return ours, published, None
        return ours, published, ours - published  # type: ignore[operator]

    def has_published(self, row: str) -> bool:
        """Whether the paper has any value in this row."""
        return any(self.spec.published_cell(row, c.label) is not None for c in self.spec.columns)


def row_label(spec: TableSpec, who: Identity) -> str:
    """The paper's row label for a model in this table (the table's own name for it)."""
    label = who.rows.get(spec.name) or who.rows.get("*") or _derived_label(spec, who)
    return spec.aliases.get(label, label)


def _derived_label(spec: TableSpec, who: Identity) -> str:
    if spec.row_label == "model_only":
        return who.model
    if spec.row_label == "model_stage":
        return f"{who.model} stage {who.stage.removeprefix('stage')}" if who.stage else who.model
    label = who.model + (
        " INT4" if who.int4 else f" ({who.quantization})" if who.quantization else ""
    )
    return f"{label} stage 1" if who.stage == "stage1" else label


def precision(record: RunRecord, who: Identity) -> str | None:
    """The weights' precision an evaluation ran in (int4, bf16, fp32...), when known: the
    run's `model/precision` metric first, then an INT4 row, then the config's torch_dtype."""
    measured = record.metrics.get("model/precision")
    if isinstance(measured, str) and measured:
        return _DTYPES.get(measured, measured)
    if who.int4:
        return "int4"
    dtype = str((record.config.get("model") or {}).get("torch_dtype", ""))
    return _DTYPES.get(dtype)


def size_gb(record: RunRecord) -> float | None:
    """Total size of the evaluated model's weights in GB (1e9 bytes), when measurable."""
    for key in ("model/size_gb", "size_gb"):
        size = number(record.metrics.get(key))
        if size is not None:
            return float(size)
    model = Path(str(record.lineage.get("model", "")))
    if not record.lineage.get("model") or not (model / "config.json").is_file():
        return None
    return sum(f.stat().st_size for pattern in _WEIGHTS for f in model.glob(pattern)) / 1e9


def number(value: Any) -> float | int | None:
    """A metric as a number, None for anything else: text, booleans, NaN and infinities (a
    NaN in metrics.json shows as missing, never as `nan`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _value(metrics: Mapping[str, Any], column: Column) -> Cell:
    value = number(metrics.get(column.key))
    if value is None:
        return None
    return value / column.divide if column.divide != 1.0 else value


def _card_rows(spec: TableSpec, records: list[RunRecord]) -> dict[str, dict[str, Any]]:
    """Table 1 rows from the newest data card of each mix (task -> raw, cleaned, tokens, ratio);
    with several mixes, rows other than stage 2's carry the mix name."""
    cards = {str(r.data_card.get("mix")): r for r in records if r.data_card}
    rows: dict[str, dict[str, Any]] = {}
    for mix, record in cards.items():
        card = record.data_card or {}
        total = card.get("total", {}).get("tokens") or 0
        entries = {**card.get("tasks", {}), "total": card.get("total", {})}
        for task, entry in entries.items():
            label = spec.tasks.get(task, task)
            if len(cards) > 1 and mix != "stage2":  # stage2 is the paper's whole mix
                label = f"{label} · {mix}"
            ratio = 100.0 * entry.get("tokens", 0) / total if total else None
            rows[label] = {**entry, "ratio_pct": ratio, "_run": record.path}
    return rows


def _interval(metrics: Mapping[str, Any], column: Column) -> tuple[float, float] | None:
    """A metric's bootstrap interval in the column's unit, when the run wrote one."""
    low, high = (
        _value(metrics, replace(column, key=f"{column.key}/ci_{s}")) for s in ("low", "high")
    )
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return None
    return low, high


def _put(
    table: Table,
    row: str,
    column: str,
    value: Cell,
    run: str,
    interval: tuple[float, float] | None = None,
) -> None:
    """Set our cell (a missing value never replaces a present one) and note its run; the
    cell's interval is the one of the run that set it, or none."""
    if value is not None:
        table.ours[(row, column)] = value
        table.intervals.pop((row, column), None)
        if interval is not None:
            table.intervals[(row, column)] = interval
        if run not in table.sources.setdefault(row, []):
            table.sources[row].append(run)


def _record_cell(record: RunRecord, who: Identity, column: Column) -> Cell:
    if column.key == "precision":
        return precision(record, who)
    if column.key == "size_gb":
        return size_gb(record)
    return _value(record.metrics, column)


def _confidence(record: RunRecord) -> float:
    """The coverage of a run's intervals (its bootstrap.confidence; 0.95 by default)."""
    bootstrap = record.config.get("bootstrap") or {}
    return float(bootstrap.get("confidence", 0.95))


def build_table(spec: TableSpec, records: Iterable[RunRecord], labels: Mapping[str, Any]) -> Table:
    """Fill a paper table from runs (newest run wins a cell)."""
    ordered = sorted(records, key=lambda r: r.mtime)
    table = Table(spec, list(spec.published))
    benchmarks = spec.benchmarks()
    stages = {c.stage for c in spec.columns if c.stage}
    if spec.row_label == "task":
        for row, entry in _card_rows(spec, ordered).items():
            for column in spec.columns:
                _put(table, row, column.label, _value(entry, column), entry["_run"])
    for record in ordered if spec.row_label != "task" else []:
        if record.benchmark not in benchmarks and not (record.job == "train" and stages):
            continue
        who = identity(record, labels)
        row = row_label(spec, who)
        # Model columns (precision, size) only beside a metric this run filled.
        filled = False
        for column in sorted(spec.columns, key=lambda c: c.benchmark is None and not c.stage):
            if column.stage and (record.job != "train" or column.stage != who.stage):
                continue
            if column.benchmark and column.benchmark != record.benchmark:
                continue
            if column.benchmark or column.stage or filled:
                value = _record_cell(record, who, column)
                filled = filled or value is not None
                interval = _interval(record.metrics, column)
                _put(table, row, column.label, value, record.path, interval)
                if value is not None and interval is not None:
                    table.confidences.add(_confidence(record))
    extra = sorted({row for row, _ in table.ours} - set(table.rows))
    # Table 1's total sums every task row above it, ours (self-cognition) included: it stays last.
    at = table.rows.index("total") if "total" in table.rows else len(table.rows)
    table.rows[at:at] = extra
    return table


def fmt(value: Cell, decimals: int, signed: bool = False) -> str:
    """A cell as text: ints plain, floats with the table's decimals, missing as "—"."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not signed:
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, int):
        return f"{value:+,}"
    if not signed and value and abs(value) < 0.5 * 10**-decimals:  # small, not zero
        return f"{value:.2g}"
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _ours(table: Table, row: str, column: str, value: Cell, intervals: bool) -> str:
    """Our cell as text, `17.054 [14.61, 19.56]` with its interval (one decimal fewer from 1 up,
    where the table's last decimal is below the interval's resolution)."""
    text = fmt(value, table.spec.decimals)
    interval = table.intervals.get((row, column)) if intervals else None
    if interval is None or not isinstance(value, int | float):
        return text
    decimals = table.spec.decimals
    if abs(value) >= 1 and decimals > 1:
        decimals -= 1
    return f"{text} [{interval[0]:.{decimals}f}, {interval[1]:.{decimals}f}]"


def wide_rows(table: Table, intervals: bool = True) -> list[list[str]]:
    """Rows of the side-by-side layout: per row `ours` (with its intervals unless told not)
    and the row's verdict count, then `paper`, `difference` and each cell's `verdict`."""
    spec, out = table.spec, []
    for row in table.rows:
        cells = [table.cell(row, c.label) for c in spec.columns]
        ours = [
            _ours(table, row, c.label, o, intervals)
            for c, (o, _, _) in zip(spec.columns, cells, strict=True)
        ]
        judged = [verdicts.judge(table, row, c.label) for c in spec.columns]
        out.append([row, "ours", *ours, verdicts.row_summary(v for v in judged if v)])
        if table.has_published(row):
            out.append(["", "paper", *(fmt(p, spec.decimals) for _, p, _ in cells), ""])
            differences = (fmt(d, spec.decimals, True) for _, _, d in cells)
            out.append(["", "difference", *differences, ""])
        if any(judged):
            out.append(["", "verdict", *(v.text() if v else MISSING for v in judged), ""])
    return out


def _header(table: Table, first: str) -> list[str]:
    return [first, "", *table.spec.column_labels(), "verdict"]


def to_markdown(table: Table) -> str:
    """The table as GitHub Markdown, ours / paper / difference per row."""
    header = _header(table, "model" if table.spec.row_label != "task" else "task")
    return f"### {table.spec.title}\n\n{markdown_table(header, wide_rows(table))}\n"


def to_wide_csv(table: Table) -> str:
    """The side-by-side layout as CSV."""
    return csv_text(["row", "source", *table.spec.column_labels(), "verdict"], wide_rows(table))


def _number(value: Cell | float) -> Any:
    """A long-CSV value: full precision (rounded to 1e-6), text as is, missing as "—"."""
    if value is None:
        return MISSING
    return round(value, 6) if isinstance(value, float) else value


def _verdict_cells(table: Table, row: str, column: str) -> tuple[Any, Any]:
    verdict = verdicts.judge(table, row, column)
    if verdict is None:
        return MISSING, MISSING
    # No finite gap (outside a zero-width interval): the verdict alone says it.
    gap = number(verdict.gap)
    return verdict.verdict, MISSING if gap is None else round(gap, 6)


def long_rows(table: Table) -> list[tuple[Any, ...]]:
    """One row per cell: table, row, column, value, published, difference, ci_low, ci_high,
    verdict, gap."""
    return [
        (
            table.spec.name,
            row,
            c.label,
            *map(_number, table.cell(row, c.label)),
            *map(_number, table.intervals.get((row, c.label), (None, None))),
            *_verdict_cells(table, row, c.label),
        )
        for row in table.rows
        for c in table.spec.columns
    ]


def to_long_csv(table: Table) -> str:
    """tables/<table>.csv: table,row,column,value,published,difference,ci_low,ci_high,verdict,
    gap."""
    return csv_text(LONG_COLUMNS, long_rows(table))


def _latex(text: str) -> str:
    for char, escaped in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
    ):
        text = text.replace(char, escaped)
    return text.replace(MISSING, "---")


def to_latex(table: Table) -> str:
    """The table as a LaTeX booktabs tabular (ours / paper / difference per row)."""
    labels = table.spec.column_labels()
    lines = [
        f"% {table.spec.title}",
        r"\begin{tabular}{ll" + "r" * len(labels) + "l}",
        r"\toprule",
        " & ".join(map(_latex, _header(table, ""))) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(map(_latex, r)) + r" \\" for r in wide_rows(table, intervals=False)]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"
