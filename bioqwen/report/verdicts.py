"""Reproduction verdicts: is the published value consistent with ours, cell by cell?

A cell of ours beside a published value is `reproduced` when the published value lies inside
our bootstrap interval (the run's `<metric>/ci_low|ci_high`), or, for a cell without an
interval, within its column's `tolerance` in conf/paper/; text cells (precision) must be
equal. Otherwise it is `not reproduced`, with the gap: the distance from the published value
to our interval's nearer end in interval widths (or |ours - paper| beside the tolerance).
A numeric cell with neither an interval nor a tolerance is `no interval`: never silently
reproduced.

The drift check (`report.check=true`) compares today's verdicts with an expected-verdicts file
written by `report.check=update`: a cell listed there as reproduced that is not reproduced now
(or has no value any more) is a failure naming the cell.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bioqwen.errors import BioqwenError
from bioqwen.runs import atomic_write_text

if TYPE_CHECKING:
    from bioqwen.report.tables import Table

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NO_INTERVAL = "no interval"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NO_INTERVAL)
_EPSILON = 1e-9  # float noise when a published value sits on an interval end or the tolerance
log = logging.getLogger("bioqwen")


@dataclass(frozen=True)
class Verdict:
    """The verdict of one cell, and by how much it missed (interval widths or tolerances)."""

    table: str
    row: str
    column: str
    verdict: str
    gap: float | None = None  # interval widths (interval) or |ours - paper| (tolerance)
    basis: str = ""  # interval | tolerance | text | "" (no interval)
    tolerance: float = 0.0  # the column's tolerance (basis tolerance)

    def text(self) -> str:
        """The verdict as a table cell shows it."""
        if self.verdict != NOT_REPRODUCED or self.gap is None:
            return self.verdict
        if self.basis == "interval" and self.gap == float("inf"):
            return f"{NOT_REPRODUCED} (outside a zero-width interval)"
        if self.basis == "interval":
            return f"{NOT_REPRODUCED} (gap {self.gap:.2g} widths)"
        return f"{NOT_REPRODUCED} (off by {self.gap:.3g}, tolerance {self.tolerance:g})"

    def name(self) -> str:
        """The cell as the drift check names it: `table3 / Qwen1.5-Chat 1.8B / BLEU-1`."""
        return f"{self.table} / {self.row} / {self.column}"


def judge(table: Table, row: str, column: str) -> Verdict | None:
    """The verdict of one cell; None when ours or the published value is missing."""
    ours, paper, _ = table.cell(row, column)
    if ours is None or paper is None:
        return None
    name = table.spec.name
    if isinstance(ours, str) or isinstance(paper, str):
        same = str(ours) == str(paper)
        return Verdict(name, row, column, REPRODUCED if same else NOT_REPRODUCED, None, "text")
    p, o = float(paper), float(ours)
    interval = table.intervals.get((row, column))
    if interval is not None:
        low, high = interval
        if low - _EPSILON <= p <= high + _EPSILON:
            return Verdict(name, row, column, REPRODUCED, 0.0, "interval")
        width = high - low
        distance = low - p if p < low else p - high
        gap = distance / width if width > 0 else float("inf")
        return Verdict(name, row, column, NOT_REPRODUCED, gap, "interval")
    tolerance = next((c.tolerance for c in table.spec.columns if c.label == column), None)
    if tolerance is None:
        return Verdict(name, row, column, NO_INTERVAL)
    within = abs(o - p) <= tolerance + _EPSILON
    verdict = REPRODUCED if within else NOT_REPRODUCED
    return Verdict(name, row, column, verdict, abs(o - p), "tolerance", tolerance)


def table_verdicts(table: Table) -> list[Verdict]:
    """The verdict of every cell of ours beside a published value, in the table's order."""
    cells = ((row, c.label) for row in table.rows for c in table.spec.columns)
    return [v for v in (judge(table, row, column) for row, column in cells) if v is not None]


def summary_line(title: str, verdicts: Sequence[Verdict]) -> str:
    """`Table 3: ...: 8/8 reproduced`, with the other verdicts counted after it."""
    if not verdicts:
        return f"{title}: no cell of ours beside a published value"
    counts = {kind: sum(v.verdict == kind for v in verdicts) for kind in VERDICTS}
    others = [f"{counts[k]} {k}" for k in (NOT_REPRODUCED, NO_INTERVAL) if counts[k]]
    rest = f" ({', '.join(others)})" if others else ""
    return f"{title}: {counts[REPRODUCED]}/{len(verdicts)} reproduced{rest}"


def row_summary(verdicts: Iterable[Verdict]) -> str:
    """A row's verdicts in a few words (`9/10 reproduced`), empty when none."""
    judged = list(verdicts)
    if not judged:
        return ""
    return f"{sum(v.verdict == REPRODUCED for v in judged)}/{len(judged)} reproduced"


def write_expected(path: Path, verdicts: Sequence[Verdict], command: str) -> Path:
    """The expected-verdicts file: table -> row -> column -> verdict, with how it was made."""
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for v in verdicts:
        nested.setdefault(v.table, {}).setdefault(v.row, {})[v.column] = v.verdict
    header = (
        "# Expected reproduction verdicts (bioqwen/report/verdicts.py), written by\n"
        f"#   {command}\n"
        "# `report.check=true` fails when a cell listed here as reproduced is not reproduced\n"
        "# now (or has no value any more). Rewrite it with report.check=update.\n"
    )
    body = yaml.safe_dump(nested, allow_unicode=True, sort_keys=False, width=100)
    return atomic_write_text(path, header + body)


def read_expected(path: Path) -> dict[tuple[str, str, str], str]:
    """(table, row, column) -> verdict from an expected-verdicts file."""
    if not path.is_file():
        raise BioqwenError(
            f"report.check=true: no expected verdicts at {path}; write them with "
            "report.check=update (or point report.expected=<file> at yours)"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise BioqwenError(f"{path}: malformed YAML: {err}") from err
    expected: dict[tuple[str, str, str], str] = {}
    for table, rows in raw.items() if isinstance(raw, Mapping) else [(None, raw)]:
        if not isinstance(rows, Mapping):
            raise BioqwenError(f"{path}: expected table -> row -> column -> verdict")
        for row, columns in rows.items():
            if not isinstance(columns, Mapping):
                raise BioqwenError(f"{path}: {table} / {row}: expected column -> verdict")
            for column, verdict in columns.items():
                if verdict not in VERDICTS:
                    raise BioqwenError(
                        f"{path}: {table} / {row} / {column}: {verdict!r} is not one of "
                        f"{', '.join(VERDICTS)}"
                    )
                expected[(str(table), str(row), str(column))] = str(verdict)
    return expected


def drifted(expected: Mapping[tuple[str, str, str], str], current: Sequence[Verdict]) -> list[str]:
    """The cells expected reproduced that are not now, each with what it is instead."""
    now = {(v.table, v.row, v.column): v for v in current}
    lost = []
    for key, verdict in expected.items():
        if verdict != REPRODUCED:
            continue
        found = now.get(key)
        if found is None:
            lost.append(f"{' / '.join(key)}: no value of ours any more")
        elif found.verdict != REPRODUCED:
            lost.append(f"{found.name()}: {found.text()}")
    return lost


def check_drift(
    filled: Sequence[Table],
    expected: Mapping[tuple[str, str, str], str] | None,
    path: Path,
    update: str | None,
) -> list[str]:
    """Log each table's verdict line; with `update` (the command that asked for it) rewrite the
    expected verdicts at `path`; with `expected`, the cells expected reproduced that are not now."""
    judged = [v for table in filled for v in table_verdicts(table)]
    for table in filled:
        if table.spec.published:
            log.info("%s", summary_line(table.spec.title, table_verdicts(table)))
    if update is not None:
        write_expected(path, judged, update)
        log.info("report.check=update: wrote %d verdicts to %s", len(judged), path)
    return drifted(expected, judged) if expected is not None else []
