"""Choosing the reward threshold: records and tokens each candidate keeps (paper 2.3.1.3).

Pure Python, no model, so it lives with the data code: `bioqwen score-data` builds the table
(`table()`) and writes it beside its scores; prepare's data card shows it for every score file
it filters with (`beside()`). The paper chose 2.80 "to keep QA volume in line with the
comprehension data"; `balance_threshold` finds the candidate whose kept QA tokens come
closest to `ratio` x the comprehension (NER + RE + MT) tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bioqwen.tabular import markdown_table

TABLE_FILE = "thresholds.json"  # written by score-data beside scores.jsonl
COLUMNS = [
    "threshold",
    "records",
    "records (%)",
    "tokens",
    "tokens (%)",
    "QA / comprehension",
    "mark",
]


def candidates(start: float, stop: float, step: float) -> list[float]:
    """Thresholds start, start + step, ... up to stop (inclusive), rounded to hide float drift."""
    if step <= 0 or stop < start:
        raise ValueError(
            f"thresholds: need step > 0 and stop >= start, got {start}..{stop} by {step}"
        )
    count = round((stop - start) / step) + 1
    return [round(start + i * step, 6) for i in range(count)]


def balance_threshold(
    kept_tokens: Mapping[float, int], comprehension_tokens: int, ratio: float = 1.0
) -> float | None:
    """The candidate whose kept tokens are closest to ratio x comprehension tokens (ties: lower)."""
    if comprehension_tokens <= 0 or not kept_tokens:
        return None
    target = ratio * comprehension_tokens
    return min(kept_tokens, key=lambda t: (abs(kept_tokens[t] - target), t))


def table(
    scores: Mapping[str, float],
    tokens: Mapping[str, int],
    thresholds: Sequence[float],
    chosen: float,
    comprehension_tokens: int = 0,
    ratio: float = 1.0,
) -> list[dict[str, Any]]:
    """One row per threshold: records and tokens with score >= threshold, their shares, the
    QA/comprehension token ratio, and a mark for the chosen value and the balancing one."""
    missing = [rid for rid in scores if rid not in tokens]
    if missing:
        raise ValueError(f"no token count for {len(missing)} scored record(s), e.g. {missing[0]}")
    total_records, total_tokens = len(scores), sum(tokens[rid] for rid in scores)
    values = sorted(set(thresholds) | {chosen})
    kept = {t: [rid for rid, s in scores.items() if s >= t] for t in values}
    kept_tokens = {t: sum(tokens[rid] for rid in ids) for t, ids in kept.items()}
    balance = balance_threshold(
        {t: kept_tokens[t] for t in thresholds}, comprehension_tokens, ratio
    )
    rows = []
    for t in values:
        marks = [name for name, at in (("chosen", chosen), ("balance", balance)) if at == t]
        rows.append(
            {
                "threshold": t,
                "records": len(kept[t]),
                "records (%)": round(100 * len(kept[t]) / max(total_records, 1), 1),
                "tokens": kept_tokens[t],
                "tokens (%)": round(100 * kept_tokens[t] / max(total_tokens, 1), 1),
                "QA / comprehension": (
                    round(kept_tokens[t] / comprehension_tokens, 2)
                    if comprehension_tokens
                    else None
                ),
                "mark": ", ".join(marks),
            }
        )
    return rows


def marked(rows: Sequence[Mapping[str, Any]], mark: str) -> float | None:
    """The threshold of the row carrying `mark` (chosen | balance), if any."""
    return next((float(r["threshold"]) for r in rows if mark in str(r["mark"]).split(", ")), None)


def as_lists(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Rows as lists in COLUMNS order (W&B tables, Markdown)."""
    return [[row[c] for c in COLUMNS] for row in rows]


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table as Markdown, the marked rows in bold."""
    table = []
    for row, values in zip(rows, as_lists(rows), strict=True):
        cells = ["" if v is None else (f"{v:,}" if isinstance(v, int) else str(v)) for v in values]
        table.append([f"**{c}**" if c else c for c in cells] if row["mark"] else cells)
    return markdown_table(COLUMNS, table) + "\n"


def beside(score_file: str | Path) -> list[dict[str, Any]] | None:
    """The table score-data wrote next to a score file (its run directory), if there is one."""
    path = Path(score_file).with_name(TABLE_FILE)
    if not path.is_file():
        return None
    rows = json.loads(path.read_text(encoding="utf-8"))
    return rows if isinstance(rows, list) else None
