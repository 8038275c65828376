"""Filling the paper's tables: ours beside published, missing as "—", the four renderings."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bioqwen.report import published, runs, tables
from tests.report.conftest import evaluation, training


def _records(directories: list[Path]) -> list[runs.RunRecord]:
    read = [runs.read_run_dir(d) for d in directories]
    assert all(isinstance(r, runs.RunRecord) for r in read)
    return read  # type: ignore[return-value]


def test_ours_beside_published_and_missing_cells(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    train = make_run(tmp_path / "t", "train", training("qwen2_0_5b", "stage2"), {"train/loss": 1})
    config = {**evaluation("tiny", "ncbi"), "model": {"name": "tiny", "path": str(train)}}
    metrics = {"f1/Disease": 0.7, "balanced_accuracy": 0.6}
    run = make_run(tmp_path / "e", "evaluate", config, metrics, {"parents": [str(train)]})
    table = tables.build_table(published.load_table("table2"), _records([run]), labels)
    spec = table.spec
    ours, paper, difference = table.cell("BioQwen-0.5B stage 2", "NCBI Dis F1")
    assert ours == 0.7
    assert paper == spec.published_cell("BioQwen-0.5B stage 2", "NCBI Dis F1")
    assert difference == 0.7 - paper  # type: ignore[operator]
    rows = list(csv.DictReader(io.StringIO(tables.to_long_csv(table))))
    assert list(rows[0]) == list(tables.LONG_COLUMNS)
    bc5cdr = next(
        r for r in rows if r["row"] == "BioQwen-0.5B stage 2" and r["column"] == "BC5CDR Chem F1"
    )
    assert bc5cdr["value"] == "—" and bc5cdr["difference"] == "—" and bc5cdr["published"] != "—"
    gpt = next(r for r in rows if r["row"] == "GPT-3.5-turbo" and r["column"] == "NCBI Acc")
    assert gpt["value"] == gpt["published"] == "—"
    # Every paper row is shown, in the paper's order, even without a run of ours.
    assert table.rows == list(spec.published)


def test_newest_run_wins_and_unknown_models_get_their_own_row(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    old = make_run(tmp_path / "old", "evaluate", evaluation("taiyi", "cmedqa2"), {"bleu-1": 1.0})
    new = make_run(tmp_path / "new", "evaluate", evaluation("taiyi", "cmedqa2"), {"bleu-1": 2.0})
    tiny = make_run(tmp_path / "tiny", "evaluate", evaluation("tiny", "cmedqa2"), {"bleu-1": 0.0})
    import os

    os.utime(old / "metrics.json", (1, 1))
    table = tables.build_table(published.load_table("table3"), _records([new, old, tiny]), labels)
    assert table.cell("Taiyi (7B)", "BLEU-1")[0] == 2.0
    assert table.cell("Taiyi (7B)", "precision")[0] == "bf16"
    assert table.rows[-2:] == ["Taiyi (7B)", "tiny"]
    # A measured zero is a zero; a cell with no run stays missing.
    assert tables.fmt(table.cell("tiny", "BLEU-1")[0], 3) == "0.000"
    assert tables.fmt(table.cell("tiny", "ROUGE-L")[0], 3) == "—"


def test_table1_from_a_data_card_and_hours_from_train_runs(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    card = {
        "mix": "stage2",
        "tasks": {
            "ner": {"raw": 10, "cleaned": 8, "tokens": 300},
            "general": {"raw": 5, "cleaned": 5, "tokens": 100},
        },
        "total": {"raw": 15, "cleaned": 13, "tokens": 400},
    }
    prep = make_run(tmp_path / "p", "prepare", {}, {"data/raw": 15}, data_card=card)
    train = make_run(
        tmp_path / "t", "train", training("qwen1_5_1_8b", "stage1"), {"train/runtime_s": 7200.0}
    )
    records = _records([prep, train])
    sample = make_run(
        tmp_path / "s", "prepare", {}, {"data/raw": 1}, data_card={**card, "mix": "sample"}
    )
    records.append(_records([sample])[0])
    table1 = tables.build_table(published.load_table("table1"), records, labels)
    assert table1.cell("NER", "ratio (%)")[0] == 75.0
    assert table1.cell("NER · sample", "raw") == (10, None, None)
    assert table1.cell("COIG", "cleaned")[0] == 5
    assert table1.cell("total", "tokens (M)")[0] == 400 / 1e6
    hours = tables.build_table(published.load_table("training_hours"), records, labels)
    assert hours.cell("BioQwen-1.8B", "stage 1")[0] == 2.0
    assert hours.cell("BioQwen-1.8B", "stage 2")[0] is None


def test_markdown_and_latex_renderings(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    run = make_run(
        tmp_path / "e", "evaluate", evaluation("qwen1_5_1_8b_chat", "cmedqa2"), {"gleu": 5.0}
    )
    table = tables.build_table(published.load_table("table3"), _records([run]), labels)
    markdown = tables.to_markdown(table)
    assert "| Qwen1.5-Chat 1.8B | ours | bf16 | — |" in markdown
    assert "|  | difference |" in markdown
    latex = tables.to_latex(table)
    assert latex.count(r"\toprule") == latex.count(r"\bottomrule") == 1
    assert "---" in latex and "—" not in latex
    wide = list(csv.reader(io.StringIO(tables.to_wide_csv(table))))
    assert wide[0][:2] == ["row", "source"] and len(wide[0]) == 2 + len(table.spec.columns)
