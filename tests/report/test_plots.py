"""The report's figures: drawn when there is data, not blank, skipped when there is none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.image

from bioqwen.report import plots, published, runs, tables
from tests.report.conftest import evaluation, training

QA = {"bleu-1": 15.0, "bleu-2": 8.0, "bleu-3": 4.0, "bleu-4": 2.0, "gleu": 5.0}
QA |= {"rouge-1": 29.0, "rouge-2": 7.0, "rouge-l": 17.0, "iteration_time_s": 3.5}


def _filled(
    directories: list[Path], labels: Any
) -> tuple[list[tables.Table], list[runs.RunRecord]]:
    records = [r for r in map(runs.read_run_dir, directories) if isinstance(r, runs.RunRecord)]
    names = ["table2", "table3", "supp_webmedqa", "iteration_times"]
    return [tables.build_table(s, records, labels) for s in published.load_tables(names)], records


def _ner_run(tmp_path: Path, make_run: Callable[..., Path], stage: str, f1: float) -> Path:
    train = make_run(
        tmp_path / f"t{stage}", "train", training("qwen2_0_5b", stage), {"train/loss": 1}
    )
    config = {**evaluation("x", "ncbi"), "model": {"name": "x", "path": str(train)}}
    lineage = {"parents": [str(train)]}
    return make_run(tmp_path / f"e{stage}", "evaluate", config, {"f1/Disease": f1}, lineage)


def test_figures_are_drawn_and_not_blank(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    directories = [
        make_run(tmp_path / "qa", "evaluate", evaluation("qwen1_5_1_8b_chat", "cmedqa2"), QA),
        make_run(tmp_path / "web", "evaluate", evaluation("taiyi", "webmedqa"), QA),
        _ner_run(tmp_path, make_run, "stage1", 0.6),
        _ner_run(tmp_path, make_run, "stage2", 0.7),
    ]
    filled, records = _filled(directories, labels)
    drawn = plots.draw_all(tmp_path / "figures", filled, records, labels)
    names = {p.name for p in drawn}
    assert names == {
        "qa_radar_table3.png",
        "qa_radar_supp_webmedqa.png",
        "iteration_times.png",
        "ner_f1.png",
        "stage2_gain.png",
        "scatter_table2.png",
        "scatter_table3.png",
        "scatter_iteration_times.png",
    }
    for path in drawn:
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 200 and pixels.std() > 0.01, path


def test_nothing_to_draw_draws_nothing(tmp_path: Path, labels: Any) -> None:
    filled, records = _filled([], labels)
    # Published values alone make no figure: every figure shows a run of ours.
    assert plots.draw_all(tmp_path / "figures", filled, records, labels) == []
    assert not (tmp_path / "figures").exists()
