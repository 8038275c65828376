"""conf/paper/: the published values load as tables with the paper's labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.report import published
from tests.conftest import compose_config


def test_every_configured_table_loads_with_a_metric_per_column() -> None:
    names = list(compose_config("report").report.tables)
    specs = published.load_tables(names)
    assert [s.name for s in specs] == names
    for spec in specs:
        assert spec.columns and all(c.key for c in spec.columns)
        for row, cells in spec.published.items():
            assert list(cells) == spec.column_labels(), row


def test_paper_labels_and_missing_cells() -> None:
    table2 = published.load_table("table2")
    assert "BioQwen-0.5B stage 2" in table2.published
    assert table2.column_labels()[4] == "NCBI Dis F1"
    # The paper prints "-" for GPT-3.5's macro F1: no value, not zero.
    assert table2.published_cell("GPT-3.5-turbo", "BC5CDR Macro F1") is None
    table3 = published.load_table("table3")
    assert table3.published_cell("BioQwen-1.8B INT4", "precision") == "int4"
    assert {c.benchmark for c in table3.columns} == {None, "cmedqa2"}


def test_aliases_reach_the_paper_row() -> None:
    times = published.load_table("iteration_times")
    assert times.published_cell("Taiyi (7B)", "webMedQA") == times.published_cell(
        "Taiyi", "webMedQA"
    )
    assert times.published_cell("Taiyi", "webMedQA") is not None


def test_a_row_with_the_wrong_number_of_cells_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "columns: [a, b]\nmetrics: {a: {key: x}, b: {key: y}}\nrows: {r: [1]}\n", "utf-8"
    )
    with pytest.raises(BioqwenError, match="row 'r' has 1 values for 2 columns"):
        published.load_table("bad", tmp_path)
    with pytest.raises(BioqwenError, match="no published table 'nope'"):
        published.load_table("nope", tmp_path)
