"""The one table writer: Markdown and CSV layout, and no other module writing tables by hand."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import bioqwen
from bioqwen.tabular import csv_text, markdown_table, write_csv


def test_a_markdown_table_is_a_header_an_alignment_row_and_one_line_per_row() -> None:
    table = markdown_table(["model", "F1"], [["tiny", "0.81"], ["base", None]])
    assert table == "| model | F1 |\n|---|---|\n| tiny | 0.81 |\n| base |  |"


def test_a_pipe_inside_a_cell_is_escaped_once() -> None:
    # The sweep summary escapes its labels for prose as well: those are not escaped twice.
    row = markdown_table(["detail"], [["a|b"], ["c\\|d"]]).splitlines()[2:]
    assert row == ["| a\\|b |", "| c\\|d |"]


def test_csv_quotes_what_it_must_and_ends_lines_with_newline(tmp_path: Path) -> None:
    rows = [["q, with comma", 'say "hi"', 1], ["multi\nline", "", 0.5]]
    text = csv_text(("prompt", "answer", "n"), rows)
    assert text.startswith("prompt,answer,n\n") and "\r" not in text
    assert list(csv.reader(io.StringIO(text)))[1:] == [[str(v) for v in r] for r in rows]
    path = write_csv(tmp_path / "out" / "table.csv", ("prompt", "answer", "n"), rows)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]  # no temporary left behind


# A Markdown table row or alignment row, or a csv writer, in a string a module builds.
HAND_WRITTEN = re.compile(r"""["']\| |---\||\bcsv\.(writer|DictWriter)\b|\bDictWriter\b""")


def test_no_module_but_the_writer_writes_a_table_by_hand() -> None:
    package = Path(bioqwen.__file__).resolve().parent
    writers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if HAND_WRITTEN.search(path.read_text(encoding="utf-8"))
    )
    assert writers == ["tabular.py"]
