"""What the report has scored for it, with the score job stood in for: the overrides each
authors' file is scored with, where it goes, and what is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.report import runs, scoring
from tests.report.conftest import write_run


def test_authors_files_are_scored_into_the_report_and_the_rest_skipped(
    tmp_path: Path, labels: dict[str, Any]
) -> None:
    given = tmp_path / "authors"
    (given / "ner" / "bc5cdr").mkdir(parents=True)
    for name in ("taiyi-ner-bc5cdr.csv", "gpt4-ner-bc5cdr.csv", "BioQwen-0.5B-ner-bc5cdr.csv"):
        (given / "ner" / "bc5cdr" / name).write_text("id,response\n", encoding="utf-8")
    calls: list[tuple[list[str], str, Path]] = []

    def score(overrides: list[str], where: str, target: Path) -> dict[str, Any]:
        calls.append((overrides, where, target))
        if where.endswith("BioQwen-0.5B-ner-bc5cdr.csv"):
            raise BioqwenError(f"{where}: line 2: no id")
        config = {"benchmark": {"name": "bc5cdr"}, "predictions": where}
        write_run(target, "score", config, {"ner/f1": 0.5})
        return {"ner/f1": 0.5}

    out = tmp_path / "report"
    records, skipped = scoring.score_authors(
        str(given), labels, {"bc5cdr": "/data/cdr"}, out, score
    )
    taiyi = given / "ner" / "bc5cdr" / "taiyi-ner-bc5cdr.csv"
    assert (calls[-1][0], calls[-1][1]) == (
        [
            "benchmark=bc5cdr",
            f"predictions={taiyi}",
            "tracking=disabled",
            "benchmark.data_dir=/data/cdr",
        ],
        str(taiyi),
    )
    assert calls[-1][2] == out / "authors" / "ner" / "bc5cdr" / "taiyi-ner-bc5cdr"
    assert [r.path for r in records] == [str(calls[-1][2])]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons["gpt4-ner-bc5cdr.csv"].startswith("unknown file name")
    assert reasons["BioQwen-0.5B-ner-bc5cdr.csv"].endswith("line 2: no id")
    assert all(isinstance(s, runs.Skipped) for s in skipped)
