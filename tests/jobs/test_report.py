"""`bioqwen report`: the paper's numbers from the authors' files, runs, skips, bad input."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bioqwen import tracking
from bioqwen.errors import BioqwenError
from bioqwen.report import published
from tests.conftest import ROOT, offline_run
from tests.report.conftest import evaluation, training, write_run

SHIPPED = ROOT / "samples" / "benchmarks" / "authors_results"
QUIET = ("tracking=disabled", "report.figures=false")


def _cells(run_dir: Path, table: str) -> dict[tuple[str, str], dict[str, str]]:
    with open(run_dir / "tables" / f"{table}.csv", encoding="utf-8") as handle:
        return {(r["row"], r["column"]): r for r in csv.DictReader(handle)}


def _report(run_cli: Callable[..., Any], out: Path, *overrides: str) -> Any:
    """`bioqwen report` without W&B or figures, which must succeed."""
    result = run_cli("report", *overrides, *QUIET, run_dir=out)
    assert result.returncode == 0, result.stderr
    return result


def test_authors_files_reproduce_the_published_cells(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    out = tmp_path / "report"
    # report.check=true: the drift check against conf/paper/verdicts/authors_results.yaml.
    overrides = (
        f"authors_results={SHIPPED}",
        f"report.runs={tmp_path}/none/**",
        "report.check=true",
    )
    result = _report(run_cli, out, *overrides)
    assert "Table 3: cMedQA2 QA and INT4: 8/8 reproduced" in result.stdout + result.stderr
    assert "Table 2: NER, stage 1 vs stage 2: 1/2 reproduced (1 not reproduced)" in (
        out / "report.md"
    ).read_text("utf-8")
    checked = []
    table3 = published.load_table("table3")
    for column in [c for c in table3.columns if c.benchmark]:
        cell = _cells(out, "table3")[("Qwen1.5-Chat 1.8B", column.label)]
        assert float(cell["published"]) == table3.published_cell("Qwen1.5-Chat 1.8B", column.label)
        assert abs(float(cell["value"]) - float(cell["published"])) <= 0.0015, cell
        assert abs(float(cell["difference"])) <= 0.0015
        # The score runs' bootstrap intervals (over the 50 questions) hold our value.
        assert float(cell["ci_low"]) < float(cell["value"]) < float(cell["ci_high"]), cell
        assert cell["verdict"] == "reproduced" and float(cell["gap"]) == 0.0
        checked.append(column.label)
    assert len(checked) == 8
    assert _cells(out, "table3")[("Qwen1.5-Chat 1.8B", "precision")]["ci_low"] == "—"
    bleu = _cells(out, "table3")[("Qwen1.5-Chat 1.8B", "BLEU-1")]
    shown = (
        f"{float(bleu['value']):.3f} [{float(bleu['ci_low']):.2f}, {float(bleu['ci_high']):.2f}]"
    )
    markdown = (out / "report.md").read_text("utf-8")
    assert f"| Qwen1.5-Chat 1.8B | ours | — | — | {shown} |" in markdown
    assert "95 % bootstrap interval over the benchmark's questions (QA) or documents" in markdown
    ncbi = _cells(out, "table2")[("BioQwen-0.5B stage 2", "NCBI Dis F1")]
    assert float(ncbi["published"]) == published.load_table("table2").published_cell(
        "BioQwen-0.5B stage 2", "NCBI Dis F1"
    )
    assert abs(float(ncbi["value"]) - float(ncbi["published"])) <= 0.0015
    assert ncbi["verdict"] == "reproduced"
    # Our balanced accuracy is not the paper's NCBI Acc (PAPER.md): outside our interval.
    accuracy = _cells(out, "table2")[("BioQwen-0.5B stage 2", "NCBI Acc")]
    assert accuracy["verdict"] == "not reproduced" and float(accuracy["gap"]) > 1
    # Cells without a released file stay missing, and the files' score runs are kept.
    assert _cells(out, "table2")[("BioQwen-0.5B stage 2", "BC5CDR Chem F1")]["value"] == "—"
    assert (out / "authors" / "qa" / "cmedqa2" / "qwen-chat-qa-cmedqa2" / "metrics.json").is_file()
    assert "Qwen1.5-Chat 1.8B" in (out / "tables" / "table3.md").read_text("utf-8")
    assert (out / "tables" / "table3.tex").read_text("utf-8").startswith("% Table 3")
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert metrics["report/table3/max_abs_difference"] <= 0.0015
    assert metrics["report/table3/reproduced"] == metrics["report/table3/verdict_cells"] == 8
    assert metrics["report/drifted"] == 0
    assert json.loads(result.stdout.strip().splitlines()[-1]) == metrics


def test_a_reproduced_cell_that_breaks_fails_the_check_naming_it(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    authors = tmp_path / "authors"
    shutil.copytree(SHIPPED, authors)
    # One shipped prediction file altered: every second cMedQA2 response is its reference answer.
    cmedqa2 = authors / "qa" / "cmedqa2" / "qwen-chat-qa-cmedqa2.csv"
    with open(cmedqa2, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(cmedqa2, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "response": r["answer"]} if i % 2 else r for i, r in enumerate(rows))
    out = tmp_path / "report"
    overrides = (
        f"authors_results={authors}",
        f"report.runs={tmp_path}/none/**",
        "report.check=true",
    )
    result = run_cli("report", *overrides, *QUIET, run_dir=out)
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("bioqwen: error: report.check: 8 cell(s) reproduced in ")
    assert "table3 / Qwen1.5-Chat 1.8B / BLEU-1: not reproduced (gap " in error
    assert "NCBI" not in error  # the files left as shipped still reproduce their cells
    # The report itself is written: the evidence of what broke.
    assert _cells(out, "table3")[("Qwen1.5-Chat 1.8B", "BLEU-1")]["verdict"] == "not reproduced"


def test_forgetting_table_scores_stage_2_against_stage_1_on_the_same_documents(
    tmp_path: Path, compose: Callable[..., Any]
) -> None:
    from bioqwen.jobs import report
    from bioqwen.jobs.common import execute

    released = SHIPPED / "ner" / "ncbi" / "BioQwen-0.5B-stage2-ner-ncbi-disease.csv"
    with open(released, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:40]
    authors = tmp_path / "authors"
    (authors / "ner").mkdir(parents=True)
    # Stage 1: the same 40 documents, every second one without entities.
    for stage, kept in (
        ("stage2", rows),
        ("stage1", [r if i % 2 else {**r, "result": "[]"} for i, r in enumerate(rows)]),
    ):
        path = authors / "ner" / f"BioQwen-0.5B-{stage}-ner-ncbi-disease.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["prompt", "result"])
            writer.writeheader()
            writer.writerows(kept)
    out = tmp_path / "report"
    overrides = (f"authors_results={authors}", f"report.runs={tmp_path}/none/**", *QUIET)
    metrics = execute(report.run, compose("report", *overrides), out)
    assert metrics["report/forgetting_rows"] == 1
    with open(out / "tables" / "forgetting.csv", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["model"], row["benchmark"], row["metric"]) == ("BioQwen-0.5B", "ncbi", "f1/Disease")
    assert float(row["stage 1"]) < float(row["stage 2"]) and float(row["difference"]) > 0.1
    assert float(row["p_value"]) < 0.05  # 20 of 40 documents lost every entity at stage 1
    scored = json.loads((Path(row["run"]) / "metrics.json").read_text("utf-8"))
    assert scored["f1/Disease"] == pytest.approx(float(row["stage 2"]), abs=1e-6)
    assert scored["compare/f1/Disease"] == pytest.approx(float(row["stage 1"]), abs=1e-6)
    markdown = (out / "report.md").read_text("utf-8")
    assert "## Forgetting" in markdown and "| BioQwen-0.5B | ncbi | f1/Disease |" in markdown


def test_unknown_files_and_broken_runs_are_listed_not_fatal(
    tmp_path: Path, compose: Callable[..., Any]
) -> None:
    from bioqwen.jobs import report
    from bioqwen.jobs.common import execute

    authors = tmp_path / "result"
    (authors / "qa" / "cmedqa2").mkdir(parents=True)
    (authors / "ner" / "bc5cdr").mkdir(parents=True)
    shutil.copy(SHIPPED / "qa" / "cmedqa2" / "qwen-chat-qa-cmedqa2.csv", authors / "qa" / "cmedqa2")
    unknown = authors / "qa" / "cmedqa2" / "gpt4-qa-cmedqa2.csv"
    unreadable = authors / "ner" / "bc5cdr" / "taiyi-ner-bc5cdr.csv"
    for path in (unknown, unreadable):
        path.write_text("prompt,answer,response\n", "utf-8")
    broken = write_run(tmp_path / "runs" / "train", "train", training("qwen2_0_5b", "stage1"), None)
    out = tmp_path / "report"
    overrides = (f"authors_results={authors}", f"report.runs={tmp_path}/runs/**", *QUIET)
    metrics = execute(report.run, compose("report", *overrides), out)
    assert metrics["report/runs"] == 1 and metrics["report/skipped"] == 3
    skipped = {
        s["path"]: s["reason"] for s in json.loads((out / "runs.json").read_text())["skipped"]
    }
    assert "unknown file name" in skipped[str(unknown)]
    assert "missing column(s) result" in skipped[str(unreadable)]
    assert "no metrics.json" in skipped[str(broken)]
    assert "## Skipped" in (out / "report.md").read_text("utf-8")


def test_one_odd_run_never_stops_the_report(tmp_path: Path, compose: Callable[..., Any]) -> None:
    from bioqwen.jobs import report
    from bioqwen.jobs.common import execute

    runs = tmp_path / "runs"
    write_run(runs / "good", "evaluate", evaluation("taiyi", "cmedqa2"), {"bleu-1": 9.0})
    odd = evaluation("taiyi", "cmedqa2", tracking="offline")  # a plain value, not a mapping
    shaped = write_run(runs / "odd", "evaluate", odd, {"bleu-1": 1.0})
    nan = write_run(runs / "n", "evaluate", evaluation("qwen1_5_1_8b_chat", "cmedqa2"), {})
    (nan / "metrics.json").write_text('{"bleu-1": NaN, "bleu-2": 8.0}', "utf-8")
    out = tmp_path / "report"
    metrics = execute(report.run, compose("report", f"report.runs={runs}/**", *QUIET), out)
    assert metrics["report/runs"] == 2 and metrics["report/skipped"] == 1
    skipped = json.loads((out / "runs.json").read_text("utf-8"))["skipped"]
    assert skipped == [
        {"path": str(shaped), "reason": "config.yaml: `tracking` is 'offline', expected a mapping"}
    ]
    cells = _cells(out, "table3")
    assert cells[("Taiyi (7B)", "BLEU-1")]["value"] == "9.0"
    assert cells[("Qwen1.5-Chat 1.8B", "BLEU-1")]["value"] == "—"
    assert cells[("Qwen1.5-Chat 1.8B", "BLEU-2")]["value"] == "8.0"
    assert "| nan" not in (out / "report.md").read_text("utf-8").lower()


def test_two_authors_files_of_one_name_are_an_error_naming_both(
    tmp_path: Path, compose: Callable[..., Any]
) -> None:
    from bioqwen.jobs import report
    from bioqwen.jobs.common import execute

    name = "qwen-chat-qa-cmedqa2.csv"
    for folder in ("qa/cmedqa2", "copy"):
        (tmp_path / "authors" / folder).mkdir(parents=True)
        shutil.copy(SHIPPED / "qa" / "cmedqa2" / name, tmp_path / "authors" / folder)
    overrides = (f"authors_results={tmp_path / 'authors'}", f"report.runs={tmp_path}/none/**")
    with pytest.raises(
        BioqwenError, match=re.escape("two files for Qwen1.5-Chat 1.8B on cmedqa2")
    ) as raised:
        execute(report.run, compose("report", *overrides, *QUIET), tmp_path / "r")
    assert str(tmp_path / "authors" / "copy" / name) in str(raised.value)
    assert str(tmp_path / "authors" / "qa" / "cmedqa2" / name) in str(raised.value)
    assert not (tmp_path / "r").exists()


def test_nothing_to_report_is_one_line_and_exit_2(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    write_run(tmp_path / "runs" / "crashed", "train", training("qwen2_0_5b", "stage1"), None)
    out = tmp_path / "report"
    result = run_cli("report", f"report.runs={tmp_path}/runs/**", *QUIET, run_dir=out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bioqwen: error: nothing to report")
    assert "1 skipped" in lines[0] and "no metrics.json" in lines[0]
    assert not (out / "report.md").exists() and not (out / "metrics.json").exists()


def test_an_unknown_key_fails_at_composition(compose: Callable[..., Any]) -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"report\.sources"):
        compose("report", "report.sources=runs")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("authors_results=/no/such/dir", "authors_results=/no/such/dir: not a directory"),
        ("report.check=maybe", "report.check='maybe': expected true, false or update"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(
    tmp_path: Path, compose: Callable[..., Any], override: str, message: str
) -> None:
    from bioqwen.jobs import report
    from bioqwen.jobs.common import execute

    with pytest.raises(BioqwenError, match=re.escape(message)):
        execute(report.run, compose("report", override), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def _train_run(directory: Path) -> Path:
    """A hand-written train run with a real offline W&B history (loss falling, tokens/s)."""
    config = {**training("tiny", "stage1"), "tracking": {"mode": "offline"}}
    write_run(directory, "train", config, {"train/loss": 2.0, "train/runtime_s": 90.0})
    tracker = tracking.start({"mode": "offline"}, directory, config, "train", name="t")
    for step, loss in enumerate([4.0, 3.1, 2.5, 2.0], start=1):
        tracker.log({"train/loss": loss, "perf/tokens_per_s": 900.0 + 50 * step}, step=step)
    tracker.finish()
    return directory


@pytest.mark.slow
def test_report_on_real_runs_with_figures_and_wandb(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    runs = tmp_path / "runs"
    predictions = SHIPPED / "qa" / "webmedqa" / "BioQwen-1.8B-qa-webmedqa.csv"
    score = run_cli("score", "benchmark=webmedqa", f"predictions={predictions}", run_dir=runs / "s")
    assert score.returncode == 0, score.stderr
    evaluate = run_cli(
        "evaluate", "model=tiny", "benchmark=ncbi", "benchmark.limit=2", run_dir=runs / "e"
    )
    assert evaluate.returncode == 0, evaluate.stderr
    _train_run(runs / "t")
    out = tmp_path / "report"
    result = run_cli("report", f"report.runs={runs}/**", run_dir=out)
    assert result.returncode == 0, result.stderr
    webmedqa = _cells(out, "supp_webmedqa")[("BioQwen-1.8B", "BLEU-1")]
    assert webmedqa["published"] == "—" and float(webmedqa["value"]) > 0
    assert _cells(out, "table2")[("tiny", "NCBI Dis F1")]["value"] != "—"
    assert _cells(out, "training_hours")[("tiny", "stage 1")]["value"] == "0.025"
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"train_curves.png", "qa_radar_supp_webmedqa.png", "ner_f1.png"} <= figures
    lineage = json.loads((out / "lineage.json").read_text("utf-8"))
    assert sorted(lineage["runs"]) == sorted(str(runs / d) for d in ("e", "s", "t"))
    logged = offline_run(out)
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert {k: logged["summary"][k] for k in metrics} == metrics
    assert any(k.startswith("figures/train_curves/") for row in logged["history"] for k in row)
