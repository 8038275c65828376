"""Reading run directories: skips with reasons, and which paper row a run belongs to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bioqwen.report import runs
from tests.report.conftest import evaluation, training


def test_a_run_without_metrics_is_skipped_with_its_reason(
    tmp_path: Path, make_run: Callable[..., Path]
) -> None:
    broken = make_run(tmp_path / "train-crashed", "train", training("qwen2_0_5b", "stage1"), None)
    read = runs.read_run_dir(broken)
    assert isinstance(read, runs.Skipped)
    assert "no metrics.json" in read.reason


def test_malformed_metrics_name_the_file(tmp_path: Path, make_run: Callable[..., Path]) -> None:
    run = make_run(tmp_path / "eval", "evaluate", evaluation("taiyi", "ncbi"), {"x": 1})
    (run / "metrics.json").write_text("{not json", "utf-8")
    read = runs.read_run_dir(run)
    assert isinstance(read, runs.Skipped)
    assert "metrics.json:1: malformed JSON" in read.reason


def test_find_run_dirs_skips_artefacts_hidden_and_excluded(
    tmp_path: Path, make_run: Callable[..., Path]
) -> None:
    a = make_run(tmp_path / "runs" / "a", "score", evaluation("x", "webmedqa"), {"bleu-1": 1.0})
    make_run(a / "wandb" / "inner", "score", {}, {"y": 1})
    make_run(a / ".hydra", "score", {}, {"y": 1})
    mine = make_run(tmp_path / "runs" / "current", "train", {}, None)
    make_run(mine / "sub", "score", {}, {"y": 1})
    earlier = make_run(tmp_path / "runs" / "report", "report", {}, {"report/runs": 1})
    make_run(earlier / "authors" / "x", "score", {}, {"y": 1})
    found = runs.find_run_dirs(f"{tmp_path}/runs/**", exclude=[mine])
    assert found == [a]
    # A hidden directory above the glob's root does not hide the runs below it.
    hidden = make_run(tmp_path / ".work" / "runs" / "b", "score", {}, {"y": 1})
    assert runs.find_run_dirs(f"{tmp_path}/.work/runs/**") == [hidden]


def test_an_evaluation_of_a_trained_model_follows_lineage_to_its_stage(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    train = make_run(
        tmp_path / "t2", "train", training("qwen2_0_5b", "stage2"), {"train/loss": 1.0}
    )
    config = {
        **evaluation("tiny", "ncbi"),
        "model": {"name": "tiny", "path": str(train / "merged")},
    }
    run = make_run(
        tmp_path / "e", "evaluate", config, {"f1/Disease": 0.5}, {"parents": [str(train)]}
    )
    record = runs.read_run_dir(run)
    assert isinstance(record, runs.RunRecord)
    who = runs.identity(record, labels)
    assert (who.model, who.stage, who.rows) == ("BioQwen-0.5B", "stage2", {})


def test_a_baseline_is_named_by_its_model_config(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    run = make_run(
        tmp_path / "e", "evaluate", evaluation("qwen1_5_1_8b_chat", "cmedqa2"), {"gleu": 5}
    )
    record = runs.read_run_dir(run)
    assert isinstance(record, runs.RunRecord)
    assert runs.identity(record, labels).model == "Qwen1.5-Chat 1.8B"


def test_experiment_block_and_tags_name_the_row(
    tmp_path: Path, make_run: Callable[..., Path], labels: Any
) -> None:
    block = {"experiment": {"name": "bq18", "table": 3, "row": "BioQwen-1.8B INT4", "tags": []}}
    run = make_run(tmp_path / "a", "evaluate", evaluation("x", "cmedqa2", **block), {"gleu": 5})
    record = runs.read_run_dir(run)
    assert isinstance(record, runs.RunRecord)
    who = runs.identity(record, labels)
    assert who.rows == {"table3": "BioQwen-1.8B INT4"} and who.int4
    assert runs.in_group(record, "bq18") and not runs.in_group(record, "other")
    tagged = evaluation("x", "cmedqa2", tracking={"tags": ["table:3", "row:BioQwen-1.8B"]})
    run = make_run(tmp_path / "b", "evaluate", tagged, {"gleu": 5})
    record = runs.read_run_dir(run)
    assert isinstance(record, runs.RunRecord)
    assert runs.explicit_rows(record) == {"table3": "BioQwen-1.8B"}
    # An experiment given by name only names the group.
    run = make_run(
        tmp_path / "c", "evaluate", evaluation("x", "cmedqa2", experiment="demo"), {"gleu": 5}
    )
    record = runs.read_run_dir(run)
    assert isinstance(record, runs.RunRecord)
    assert record.group == "demo" and runs.explicit_rows(record) == {}


def test_a_config_of_an_unexpected_shape_is_skipped_with_its_reason(
    tmp_path: Path, make_run: Callable[..., Path]
) -> None:
    plain = make_run(
        tmp_path / "a", "evaluate", evaluation("x", "ncbi", tracking="offline"), {"f1/Disease": 1}
    )
    read = runs.read_run_dir(plain)
    assert isinstance(read, runs.Skipped)
    assert read.reason == "config.yaml: `tracking` is 'offline', expected a mapping"
    tags = make_run(
        tmp_path / "b", "evaluate", evaluation("x", "ncbi", tracking={"tags": "demo"}), {"x": 1}
    )
    read = runs.read_run_dir(tags)
    assert isinstance(read, runs.Skipped) and "`tracking.tags` is 'demo'" in read.reason
    lineage = make_run(tmp_path / "c", "evaluate", evaluation("x", "ncbi"), {"x": 1}, {"p": 1})
    (lineage / "lineage.json").write_text("[1]", "utf-8")
    read = runs.read_run_dir(lineage)
    assert isinstance(read, runs.Skipped) and "lineage.json: not a JSON object" in read.reason
