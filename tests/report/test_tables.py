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
            "self_cognition": {"raw": 2, "cleaned": 2, "tokens": 20},
        },
        "total": {"raw": 17, "cleaned": 15, "tokens": 420},
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
    assert table1.cell("NER", "ratio (%)")[0] == 100 * 300 / 420
    assert table1.cell("NER · sample", "raw") == (10, None, None)
    assert table1.cell("COIG", "cleaned")[0] == 5
    assert table1.cell("total", "tokens (M)")[0] == 420 / 1e6
    # Our rows the paper lacks come before the total, which sums them too.
    assert table1.rows[-1] == "total" and "Self-cognition" in table1.rows
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
    assert wide[0][:2] == ["row", "source"] and len(wide[0]) == 3 + len(table.spec.columns)
    assert wide[0][-1] == "verdict"


def test_bootstrap_intervals_beside_our_values(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    ci = {"bleu-1": 17.054282, "bleu-1/ci_low": 14.607894, "bleu-1/ci_high": 19.558496}
    run = make_run(tmp_path / "s", "evaluate", evaluation("taiyi", "cmedqa2"), ci)
    old = make_run(tmp_path / "o", "evaluate", evaluation("tiny", "cmedqa2"), ci)
    new = make_run(tmp_path / "n", "evaluate", evaluation("tiny", "cmedqa2"), {"bleu-1": 1.0})
    import os

    os.utime(old / "metrics.json", (1, 1))
    table = tables.build_table(published.load_table("table3"), _records([run, old, new]), labels)
    markdown = tables.to_markdown(table)
    assert "| Taiyi (7B) | ours | bf16 | — | 17.054 [14.61, 19.56] | — |" in markdown
    # The paper and difference rows carry no interval; a newer run without one drops the old.
    assert markdown.count("[") == 1
    assert "| tiny | ours | bf16 | — | 1.000 | — |" in markdown
    rows = list(csv.DictReader(io.StringIO(tables.to_long_csv(table))))
    assert list(rows[0]) == [*tables.LONG_COLUMNS[:6], "ci_low", "ci_high", "verdict", "gap"]
    assert tables.LONG_COLUMNS[:6] == ("table", "row", "column", "value", "published", "difference")
    cells = {(r["row"], r["column"]): r for r in rows}
    bleu = cells[("Taiyi (7B)", "BLEU-1")]
    assert (bleu["value"], bleu["ci_low"], bleu["ci_high"]) == (
        "17.054282",
        "14.607894",
        "19.558496",
    )
    assert cells[("tiny", "BLEU-1")]["ci_low"] == cells[("Taiyi (7B)", "BLEU-2")]["ci_high"] == "—"
    # LaTeX keeps one number per cell (ten columns of intervals would not fit a page).
    assert "[" not in tables.to_latex(table)


def test_model_columns_come_from_the_runs_metrics_never_from_the_paper(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    measured = {"gleu": 6.0, "model/precision": "int4", "model/size_gb": 0.93}
    config = {"benchmark": {"name": "cmedqa2"}, "predictions": "/x/BioQwen-1.8B-qa-cmedqa2.csv"}
    score = make_run(tmp_path / "s", "score", config, measured)
    fp16 = {"gleu": 6.0, "model/precision": "float16"}
    evaluate = make_run(tmp_path / "e", "evaluate", evaluation("taiyi", "cmedqa2"), fp16)
    bare = {"benchmark": {"name": "cmedqa2"}, "predictions": "/x/qwen-chat-qa-cmedqa2.csv"}
    plain = make_run(tmp_path / "p", "score", bare, {"gleu": 5.0})
    table = tables.build_table(
        published.load_table("table3"), _records([score, evaluate, plain]), labels
    )
    # Measured on 4-bit weights: the INT4 row, not the bf16 row of the same model.
    assert table.cell("BioQwen-1.8B INT4", "precision")[0] == "int4"
    assert table.cell("BioQwen-1.8B INT4", "size (GB)")[0] == 0.93
    assert table.cell("BioQwen-1.8B", "precision")[0] is None
    f16 = {"gleu": 6.1, "model/precision": "fp16", "model/quantization": "gguf-f16"}
    gguf = make_run(tmp_path / "g", "evaluate", evaluation("taiyi", "cmedqa2"), f16)
    rows = tables.build_table(published.load_table("table3"), _records([evaluate, gguf]), labels)
    assert rows.cell("Taiyi (7B) (gguf-f16)", "precision")[0] == "fp16"  # beside, not over it
    assert table.cell("Taiyi (7B)", "precision")[0] == "fp16"  # the metric beats torch_dtype
    # The paper has a precision and a size for this row; a run that does not say stays missing.
    for column in ("precision", "size (GB)"):
        ours, paper, _ = table.cell("Qwen1.5-Chat 1.8B", column)
        assert ours is None and paper is not None
    assert "| Qwen1.5-Chat 1.8B | ours | — | — |" in tables.to_markdown(table)


def test_intervals_of_fractions_keep_the_tables_decimals(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    ci = {"f1/Disease": 0.65432, "f1/Disease/ci_low": 0.61049, "f1/Disease/ci_high": 0.69017}
    run = make_run(tmp_path / "e", "evaluate", evaluation("taiyi", "ncbi"), ci)
    table = tables.build_table(published.load_table("table2"), _records([run]), labels)
    assert "| 0.654 [0.610, 0.690] |" in tables.to_markdown(table)


def test_nan_and_infinity_in_metrics_show_as_missing(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    metrics = {"bleu-1": float("nan"), "bleu-2": float("inf"), "bleu-3": 1.5, "gleu": True}
    run = make_run(tmp_path / "e", "evaluate", evaluation("taiyi", "cmedqa2"), metrics)
    (run / "metrics.json").write_text(
        '{"bleu-1": NaN, "bleu-2": Infinity, "bleu-3": 1.5, "model/size_gb": NaN}', "utf-8"
    )
    table = tables.build_table(published.load_table("table3"), _records([run]), labels)
    assert table.cell("Taiyi (7B)", "BLEU-1")[0] is None
    assert table.cell("Taiyi (7B)", "BLEU-2")[0] is None
    assert table.cell("Taiyi (7B)", "BLEU-3")[0] == 1.5
    assert table.cell("Taiyi (7B)", "size (GB)")[0] is None
    text = tables.to_markdown(table) + tables.to_long_csv(table)
    assert "nan" not in text.lower() and "inf" not in text.lower()
