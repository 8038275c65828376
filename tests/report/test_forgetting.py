"""Forgetting: pairing stage-1 and stage-2 runs of one model, the table, the eval-loss figure."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.image

from bioqwen import tracking
from bioqwen.report import forgetting, plots, runs
from tests.report.conftest import training

NER = {"name": "ncbi", "task": "ner", "data_dir": "samples/benchmarks/ncbi"}


def _read(directory: Path) -> runs.RunRecord:
    record = runs.read_run_dir(directory)
    assert isinstance(record, runs.RunRecord)
    return record


def _train(make_run: Callable[..., Path], directory: Path, stage: str, init: Path | None) -> Path:
    lineage = {"stage": stage, "init_from": str(init) if init else None, "parents": []}
    return make_run(directory, "train", training("qwen2_0_5b", stage), {"train/loss": 1}, lineage)


def _evaluation(make_run: Callable[..., Path], directory: Path, model_run: Path) -> Path:
    config = {"model": {"name": "x", "path": str(model_run)}, "benchmark": NER}
    run = make_run(
        directory, "evaluate", config, {"f1/Disease": 0.5}, {"parents": [str(model_run)]}
    )
    (run / "predictions.csv").write_text("prompt,result\n", "utf-8")
    return run


def test_pairs_follow_lineage_from_stage_2_to_its_own_stage_1(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    first = _train(make_run, tmp_path / "t1", "stage1", None)
    second = _train(make_run, tmp_path / "t2", "stage2", first)
    other = _train(make_run, tmp_path / "sweep-point", "stage1", None)  # another stage-1 run
    e1 = _evaluation(make_run, tmp_path / "e1", first)
    e2 = _evaluation(make_run, tmp_path / "e2", second)
    newer = _evaluation(make_run, tmp_path / "e-other", other)
    os.utime(e1 / "metrics.json", (1, 1))  # the other stage-1 evaluation is the newest
    found = forgetting.pairs([_read(p) for p in (e1, e2, newer)], labels)
    assert [(p.model, p.benchmark, p.stage1.path, p.stage2.path) for p in found] == [
        ("BioQwen-0.5B", "ncbi", str(e1), str(e2))
    ]
    assert found[0].data_dir() == "samples/benchmarks/ncbi"
    # Without its predictions file an evaluation cannot be compared: no pair.
    (e1 / "predictions.csv").unlink()
    assert forgetting.pairs([_read(p) for p in (e1, e2)], labels) == []


def test_rows_from_a_compare_score_and_their_renderings(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    first = _train(make_run, tmp_path / "t1", "stage1", None)
    second = _train(make_run, tmp_path / "t2", "stage2", first)
    e1 = _read(_evaluation(make_run, tmp_path / "e1", first))
    pair = forgetting.Pair(
        "BioQwen-0.5B", "cmeee", e1, _read(_evaluation(make_run, tmp_path / "e2", second))
    )
    metrics = {
        **{"macro_f1": 0.6, "compare/macro_f1": 0.5, "macro_f1/p_value": 0.04},
        **{"f1/Disease": 0.7, "compare/f1/Disease": 0.4, "f1/Disease/p_value": 0.001},
        **{"f1/Drug": 0.5, "compare/f1/Drug": 0.6, "f1/Drug/p_value": 0.5},
        **{"f1/Drug/ci_low": 0.1, "split/test/f1/Drug": 0.2, "compare/f1/Other": 0.3},
    }
    rows = forgetting.rows(pair, metrics, "runs/score")
    assert [(r.metric, r.stage1, r.stage2, r.p_value) for r in rows] == [
        ("macro_f1", 0.5, 0.6, 0.04),
        ("f1/Disease", 0.4, 0.7, 0.001),
        ("f1/Drug", 0.6, 0.5, 0.5),
    ]
    markdown = forgetting.to_markdown(rows)
    assert "| BioQwen-0.5B | cmeee | f1/Drug | 0.600 | 0.500 | -0.100 | 0.5 |" in markdown
    table = list(csv.DictReader(io.StringIO(forgetting.to_csv(rows))))
    assert list(table[0]) == list(forgetting.COLUMNS)
    assert table[1]["difference"] == "0.3" and table[1]["run"] == "runs/score"
    # One entity type: its F1 is the macro F1, shown once.
    single = forgetting.rows(pair, {"f1/Disease": 0.7, "macro_f1": 0.7}, "r")
    assert [(r.metric, r.stage1, r.p_value) for r in single] == [("f1/Disease", None, None)]
    assert "| — | 0.700 | — | — |" in forgetting.to_markdown(single)


def test_eval_loss_per_task_across_both_stages_on_one_figure(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    first = _train(make_run, tmp_path / "t1", "stage1", None)
    second = _train(make_run, tmp_path / "t2", "stage2", first)
    for directory, losses in ((first, (6.0, 5.0)), (second, (4.8, 5.2))):
        config = {**training("qwen2_0_5b", "stage1"), "tracking": {"mode": "offline"}}
        tracker = tracking.start({"mode": "offline"}, directory, config, "train", name="t")
        for step, loss in zip((10, 20), losses, strict=True):
            tracker.log(
                {"eval/loss": loss, "eval/ner_loss": loss + 1, "eval/qa_loss": 7 - loss}, step=step
            )
        tracker.finish()
    records = [_read(first), _read(second)]
    assert [(a.path, b.path) for a, b in forgetting.train_chains(records)] == [
        (str(first), str(second))
    ]
    path = plots.eval_loss_curves(records, labels, tmp_path / "f.png")
    assert path is not None and matplotlib.image.imread(path).std() > 0
    # No stage-2 run that started from a stage-1 run in the report: no figure.
    assert plots.eval_loss_curves(records[:1], labels, tmp_path / "g.png") is None
