"""The paper's published values (conf/paper/*.yaml) as table specifications.

conf/paper/ is the only place in the project that holds a published number. Each file is one
table: its title, the paper's column and row labels, the published cells (null where the paper
prints "-"), and, per column, which metric of ours fills it (`benchmark`, `key`, `divide`) and
the `tolerance` that decides a reproduction verdict for a cell without an interval
(bioqwen/report/verdicts.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bioqwen.checkout import CONF_DIR
from bioqwen.errors import BioqwenError

PAPER_DIR = CONF_DIR / "paper"

Cell = float | str | None


@dataclass(frozen=True)
class Column:
    """One column: the paper's label and where our value comes from."""

    label: str
    key: str
    benchmark: str | None = None
    stage: str | None = None
    divide: float = 1.0
    tolerance: float | None = None  # |ours - paper| that counts as reproduced without an interval


@dataclass
class TableSpec:
    """One paper table: labels, published cells and how to fill our cells."""

    name: str
    title: str
    decimals: int
    columns: list[Column]
    row_label: str = "model"  # model | model_stage | model_only | task (see tables.row_label)
    published: dict[str, dict[str, Cell]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)

    def published_cell(self, row: str, column: str) -> Cell:
        """The published value of a cell, None when the paper has none."""
        return self.published.get(self.aliases.get(row, row), {}).get(column)

    def column_labels(self) -> list[str]:
        """The paper's column labels in order."""
        return [c.label for c in self.columns]

    def benchmarks(self) -> set[str]:
        """The benchmarks whose runs fill this table."""
        return {c.benchmark for c in self.columns if c.benchmark}


def _tolerance(value: Any, path: Path, label: str) -> float | None:
    """A column's tolerance: a number >= 0, or None (no tolerance)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BioqwenError(f"{path}: {label}: tolerance {value!r}, expected a number >= 0")
    return float(value)


def _spec(name: str, raw: dict[str, Any], path: Path) -> TableSpec:
    """Build and check a TableSpec from one YAML file's content."""
    labels = [str(c) for c in raw.get("columns") or []]
    metrics = raw.get("metrics") or {}
    missing = [c for c in labels if c not in metrics]
    if not labels or missing:
        raise BioqwenError(f"{path}: every column needs a metrics entry; missing {missing}")
    columns = [
        Column(
            label,
            str(metrics[label]["key"]),
            metrics[label].get("benchmark"),
            metrics[label].get("stage"),
            float(metrics[label].get("divide", 1.0)),
            _tolerance(metrics[label].get("tolerance"), path, label),
        )
        for label in labels
    ]
    published: dict[str, dict[str, Cell]] = {}
    for row, values in (raw.get("rows") or {}).items():
        if len(values) != len(labels):
            raise BioqwenError(
                f"{path}: row {row!r} has {len(values)} values for {len(labels)} columns"
            )
        published[str(row)] = dict(zip(labels, values, strict=True))
    return TableSpec(
        name=name,
        title=str(raw.get("title", name)),
        decimals=int(raw.get("decimals", 3)),
        columns=columns,
        row_label=str(raw.get("row_label", "model")),
        published=published,
        aliases={str(k): str(v) for k, v in (raw.get("aliases") or {}).items()},
        tasks={str(k): str(v) for k, v in (raw.get("tasks") or {}).items()},
    )


def load_table(name: str, directory: str | Path = PAPER_DIR) -> TableSpec:
    """Load conf/paper/<name>.yaml as a TableSpec."""
    path = Path(directory) / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in Path(directory).glob("*.yaml"))
        raise BioqwenError(f"no published table {name!r} in {directory} (have: {available})")
    return _spec(name, yaml.safe_load(path.read_text(encoding="utf-8")) or {}, path)


def load_tables(names: list[str], directory: str | Path = PAPER_DIR) -> list[TableSpec]:
    """Load the named tables in order."""
    return [load_table(name, directory) for name in names]
