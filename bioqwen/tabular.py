"""Tables as text: the one Markdown table writer and the one CSV writer.

A leaf (imports only bioqwen.runs), so data/, eval/, report/, sweeps/ and quality/ all write
their tables the same way; it lives apart from runs.py because it knows table formats, not run
directories, and it borrows only runs' atomic write. Callers format their own cells (decimals,
intervals, thousands separators): the writers only lay rows out.

Markdown: a `| a | b |` header, a `|---|---|` row (no alignment marks), one `| ... |`
line per row; a cell is `str(value)`, None an empty cell, and a `|` inside a cell is escaped
as `\\|` so it cannot split the cell. CSV: Python's csv dialect with "\\n" line ends.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bioqwen.runs import atomic_write_text

# A `|` not already escaped: a caller that escaped its text for prose too (the sweep summary's
# point labels) is not escaped twice.
_BARE_PIPE = re.compile(r"(?<!\\)\|")


def _markdown_cell(value: Any) -> str:
    return "" if value is None else _BARE_PIPE.sub(r"\\|", str(value))


def _markdown_row(cells: Iterable[Any]) -> str:
    return "| " + " | ".join(_markdown_cell(c) for c in cells) + " |"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table: header, alignment row and one line per row, without a final
    line end (callers place it among their own lines)."""
    lines = [_markdown_row(header), "|" + "---|" * len(header)]
    lines += [_markdown_row(row) for row in rows]
    return "\n".join(lines)


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """The header and rows as CSV text ("\\n" line ends, quoted where the csv module must)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | Path, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Path:
    """Write the header and rows as a CSV file at path, atomically (see csv_text)."""
    return atomic_write_text(path, csv_text(header, rows))
