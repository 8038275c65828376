"""Reproduction verdicts: inside the interval, within the tolerance, `no interval`, drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.report import published, tables, verdicts
from bioqwen.report.published import Column, TableSpec

ROW = "BioQwen-0.5B"


def _table(
    ours: float | str, interval: tuple[float, float] | None = None, tolerance: float | None = None
) -> tables.Table:
    """A one-cell table: published 10.0 (or `bf16` for text), ours as given."""
    paper: float | str = "bf16" if isinstance(ours, str) else 10.0
    column = Column("m", "m", tolerance=tolerance)
    spec = TableSpec("t", "Table T: test", 3, [column], published={ROW: {"m": paper}})
    table = tables.Table(spec, [ROW], {(ROW, "m"): ours})
    if interval:
        table.intervals[(ROW, "m")] = interval
    return table


def _verdict(table: tables.Table) -> verdicts.Verdict:
    judged = verdicts.judge(table, ROW, "m")
    assert judged is not None
    return judged


def test_inside_the_interval_is_reproduced_outside_gives_the_gap_in_widths() -> None:
    assert _verdict(_table(11.0, (9.0, 12.0))).verdict == verdicts.REPRODUCED
    missed = _verdict(_table(14.0, (12.0, 16.0)))
    assert missed.verdict == verdicts.NOT_REPRODUCED
    assert missed.gap == pytest.approx(0.5)  # 10 lies 2 below 12; the interval is 4 wide
    assert missed.text() == "not reproduced (gap 0.5 widths)"
    point_table = _table(0.0, (0.0, 0.0))
    point = _verdict(point_table)
    assert point.gap == float("inf")
    assert point.text() == "not reproduced (outside a zero-width interval)"
    assert tables.to_long_csv(point_table).splitlines()[1].endswith(",not reproduced,—")


def test_without_an_interval_only_a_tolerance_reproduces() -> None:
    # Ours equal to the paper, but no interval and no tolerance: never silently reproduced.
    assert _verdict(_table(10.0)).verdict == verdicts.NO_INTERVAL
    assert _verdict(_table(10.04, tolerance=0.05)).verdict == "reproduced"
    far = _verdict(_table(10.2, tolerance=0.05))
    assert far.verdict == verdicts.NOT_REPRODUCED
    assert far.text() == "not reproduced (off by 0.2, tolerance 0.05)"


def test_text_cells_must_be_equal_and_missing_cells_get_no_verdict() -> None:
    assert _verdict(_table("bf16")).verdict == "reproduced"
    assert _verdict(_table("fp32")).verdict == "not reproduced"
    table = _table(10.0)
    table.ours.clear()
    assert verdicts.judge(table, ROW, "m") is None and verdicts.table_verdicts(table) == []


def test_summary_line_and_the_verdict_in_every_rendering() -> None:
    table = _table(14.0, (12.0, 16.0))
    judged = verdicts.table_verdicts(table)
    assert verdicts.summary_line("Table T", judged) == "Table T: 0/1 reproduced (1 not reproduced)"
    assert "| BioQwen-0.5B | ours | 14.000 [12.00, 16.00] | 0/1 reproduced |" in tables.to_markdown(
        table
    )
    assert "|  | verdict | not reproduced (gap 0.5 widths) |  |" in tables.to_markdown(table)
    assert "not reproduced (gap 0.5 widths)" in tables.to_latex(table)
    assert tables.to_long_csv(table).splitlines()[1].endswith(",not reproduced,0.5")


def test_expected_verdicts_round_trip_and_drift(tmp_path: Path) -> None:
    good = verdicts.table_verdicts(_table(11.0, (9.0, 12.0)))
    path = verdicts.write_expected(tmp_path / "v.yaml", good, "bioqwen report ...")
    expected = verdicts.read_expected(path)
    assert expected == {("t", ROW, "m"): "reproduced"}
    assert verdicts.drifted(expected, good) == []
    bad = verdicts.table_verdicts(_table(14.0, (12.0, 16.0)))
    assert verdicts.drifted(expected, bad) == [
        "t / BioQwen-0.5B / m: not reproduced (gap 0.5 widths)"
    ]
    assert verdicts.drifted(expected, []) == ["t / BioQwen-0.5B / m: no value of ours any more"]
    # A cell expected not reproduced may change without failing the check.
    assert verdicts.drifted({("t", ROW, "m"): "not reproduced"}, good) == []


def test_a_missing_or_malformed_expected_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(BioqwenError, match=r"no expected verdicts at .*report\.check=update"):
        verdicts.read_expected(tmp_path / "none.yaml")
    (tmp_path / "v.yaml").write_text("t: {row: {m: fine}}\n", "utf-8")
    with pytest.raises(BioqwenError, match="t / row / m: 'fine' is not one of"):
        verdicts.read_expected(tmp_path / "v.yaml")


def test_a_negative_tolerance_names_the_column(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "columns: [m]\nmetrics: {m: {key: m, tolerance: -1}}\nrows: {}\n", "utf-8"
    )
    with pytest.raises(BioqwenError, match="m: tolerance -1, expected a number >= 0"):
        published.load_table("t", tmp_path)
