"""Experiments: every shipped experiment composes step by step, the step list is validated, and
experiment.json decides run / skip / resume / rerun from input hashes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from bioqwen import experiments
from bioqwen.checkout import compose, hydra_context
from bioqwen.cli import JOBS
from bioqwen.errors import BioqwenError
from tests.conftest import compose_config

NAMES = experiments.available(experiments.EXPERIMENTS)
PAPER = [name for name in NAMES if name.startswith("paper/")]


def plan_of(name: str, *overrides: str) -> experiments.Plan:
    cfg = compose_config("pipeline", f"+experiment={name}", *overrides)
    with hydra_context():
        return experiments.plan(cfg, JOBS)


def all_plans(todo: experiments.Plan) -> list[experiments.Plan]:
    return [p for sub in todo.subs for p in all_plans(sub)] + [todo]


def test_available_lists_the_pipeline_experiments_only() -> None:
    assert "demo" in NAMES and "paper/bioqwen_1_8b_stage2" in NAMES
    assert "train_demo" not in NAMES  # a train-only experiment has no `experiment:` block
    assert len(PAPER) == 17


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_composes_every_step(name: str) -> None:
    for todo in all_plans(plan_of(name, "pipeline.root=/x")):
        block = OmegaConf.to_container(todo.cfg.experiment, resolve=True)
        assert isinstance(block, dict)
        for step in todo.steps:
            cfg = todo.configs[step.name]
            assert cfg.experiment == {**block, "step": step.name}
            assert cfg.tracking.group == block["name"]
            assert set(block["tags"]) <= set(cfg.tracking.tags)
            assert todo.dirs[step.name] == Path("/x", block["name"], step.name)
            for key, path in todo.inputs(step).items():
                assert OmegaConf.select(cfg, key) == str(path)
            if block["table"] is not None:
                assert {f"table:{block['table']}", f"row:{block['row']}"} <= set(block["tags"])


def test_paper_experiments_cover_tables_2_and_3() -> None:
    rows: dict[Any, set[str]] = {}
    for name in PAPER:
        block = compose_config("pipeline", f"+experiment={name}").experiment
        rows.setdefault(block.table, set()).add(block.row)
    sizes = ("0.5B", "1.5B", "1.8B")
    assert rows[2] == {f"BioQwen-{s} stage {n}" for s in sizes for n in (1, 2)} | {"Taiyi (7B)"}
    assert rows[3] == {f"BioQwen-{s}" for s in sizes} | {
        "BioQwen-1.5B INT4",
        "BioQwen-1.8B INT4",
        "Qwen2.5-Instruct 1.5B",
        "Qwen1.5-Chat 1.8B",
    }
    assert rows[None] == {"Gemma2 2B", "SmolLM2 1.7B", "Llama3.2 1B"}


def test_stage_2_starts_from_the_stage_1_experiment() -> None:
    todo = plan_of("paper/bioqwen_1_8b_stage2", "pipeline.root=/x")
    (stage1,) = todo.subs
    assert stage1.cfg.experiment.name == "bioqwen-1.8b-stage1"
    train = todo.configs["train-stage2"]
    assert train.stage.name == "stage2" and train.model.name == "qwen1_5_1_8b" and train.merge
    assert train.stage.init_from == "/x/bioqwen-1.8b-stage1/train-stage1"
    assert train.data_dir == "/x/bioqwen-1.8b-stage2/prepare-stage2"
    assert stage1.configs["train-stage1"].data_dir == "/x/bioqwen-1.8b-stage1/prepare-stage1"
    assert stage1.configs["prepare-stage1"].data.mix.name == "stage1"
    for bench in ("bc5cdr", "ncbi", "cmeee"):
        evaluate = todo.configs[f"evaluate-{bench}"]
        assert evaluate.model.path == "/x/bioqwen-1.8b-stage2/train-stage2"
        assert evaluate.benchmark.name == bench and evaluate.generation.name == "authors_sampling"


def test_data_root_reaches_prepare_and_cmedqa2() -> None:
    todo = plan_of("paper/bioqwen_1_8b", "pipeline.data_root=/downloads")
    assert todo.configs["evaluate-cmedqa2"].benchmark.data_dir == "/downloads/cmedqa2"
    stage2 = todo.subs[0]
    assert stage2.configs["prepare-stage2"].data.root == "/downloads"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "a", "job": "trian"}], "unknown job 'trian'"),
        ([{"job": "prepare"}], "needs name and job"),
        ([{"name": "a", "job": "prepare", "overides": []}], "['overides']"),
        ([{"name": "a", "job": "prepare"}, {"name": "a", "job": "train"}], "repeated"),
        # A step name is a directory name: `..` and `.` would be the pipeline root or the
        # experiment directory itself, which a rerun deletes.
        ([{"name": "..", "job": "prepare"}], "step name '..': use letters"),
        ([{"name": ".", "job": "prepare"}], "step name '.': use letters"),
        ([{"name": "a/../..", "job": "prepare"}], "step name 'a/../..'"),
        ([{"name": "a b", "job": "prepare"}], "step name 'a b'"),
        ([{"name": "t", "job": "train", "inputs": {"data_dir": "p"}}], "names no earlier step"),
        ([], "pipeline.steps is empty"),
    ],
)
def test_bad_step_lists_fail_naming_the_step(steps: list[dict], message: str) -> None:
    with pytest.raises(BioqwenError, match="experiment x") as err:
        experiments.parse_steps(steps, JOBS, "experiment x")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("experiment: {name: bad}\npipeline: {stepz: []}", "'stepz' not in 'PipelineSettings'"),
        ("experiment: {name: bad, tag: [x]}", "'tag' not in 'ExperimentBlock'"),
        ("experiment: {name: bad}\npipline: {steps: []}", "'pipline' not in 'PipelineJobConfig'"),
    ],
)
def test_a_misspelled_experiment_key_fails_naming_the_file(
    tmp_path: Path, body: str, key: str
) -> None:
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "bad.yaml").write_text(f"# @package _global_\n{body}\n")
    overrides = ["+experiment=bad", f"hydra.searchpath=[file://{tmp_path}]"]
    with pytest.raises(BioqwenError, match=r"In 'experiment/bad'") as err:
        compose("pipeline", overrides)
    assert key in str(err.value)


@pytest.mark.parametrize(
    ("job", "override", "key"),
    [
        ("pipeline", "pipeline.wiat=true", "pipeline.wiat"),
        ("pipeline", "experiment.rows=x", "experiment.rows"),
        ("report", "report.sourse=wandb", "report.sourse"),
        ("report", "report.sweep.metirc=eval/loss", "report.sweep.metirc"),
        ("report", "labels.model={}", "labels.model"),
    ],
)
def test_an_unknown_pipeline_or_report_key_fails_at_composition(
    job: str, override: str, key: str
) -> None:
    with pytest.raises(BioqwenError, match=re.escape(f"Could not override '{key}'")):
        compose(job, ["+experiment=demo", override] if job == "pipeline" else [override])


def test_a_misspelled_step_override_fails_naming_the_step() -> None:
    with pytest.raises(BioqwenError, match=r"step train-stage1: Could not override 'stage\.lr'"):
        plan_of("demo", "pipeline.overrides.train=['stage.lr=1']")


def test_config_hash_ignores_labels_only() -> None:
    cfg = {"stage": {"learning_rate": 1e-4}, "experiment": {"name": "a"}, "tracking": {}}
    same = {**cfg, "experiment": {"name": "b"}, "tracking": {"group": "b"}, "resume": True}
    same["wait"] = True  # waiting for a run directory's lock changes nothing it computes
    other = {**cfg, "stage": {"learning_rate": 2e-4}}
    assert experiments.config_hash(cfg) == experiments.config_hash(same)
    assert experiments.config_hash(cfg) != experiments.config_hash(other)


def test_ledger_decides_per_step(tmp_path: Path) -> None:
    step = experiments.Step("train", "train")
    run_dir = tmp_path / "train"
    ledger = experiments.Ledger(tmp_path, {"name": "x"}, ["train"])
    assert ledger.plan(step, "h1", run_dir, resumable=False) == "run"
    ledger.update(step, status="running", hash="h1")
    run_dir.mkdir()
    assert ledger.plan(step, "h1", run_dir, resumable=True) == "resume"
    assert ledger.plan(step, "h1", run_dir, resumable=False) == "rerun"
    (run_dir / "metrics.json").write_text("{}")
    ledger.update(step, status="done")
    reloaded = experiments.Ledger(tmp_path, {"name": "x"}, ["train"])
    assert reloaded.plan(step, "h1", run_dir, resumable=True) == "skip"
    assert reloaded.plan(step, "h2", run_dir, resumable=True) == "rerun"
    assert reloaded.steps["train"]["job"] == "train"


def test_command_line_names_unknown_experiments_and_keys() -> None:
    with pytest.raises(BioqwenError, match=r"unknown experiment 'dmeo'.*one of: demo"):
        experiments.check_command_line(["+experiment=dmeo"])
    with pytest.raises(BioqwenError, match="no experiment given"):
        experiments.check_command_line(["tracking=disabled"])
    with pytest.raises(BioqwenError, match=r"Could not override 'pipeline\.foo'"):
        experiments.check_command_line(["+experiment=demo", "pipeline.foo=1"])
    experiments.check_command_line(["+experiment=demo", "hydra.run.dir=/x", "tracking=disabled"])


def test_an_experiment_name_must_be_a_plain_directory_name() -> None:
    cfg = compose_config("pipeline", "+experiment=demo", "experiment.name=..")
    with pytest.raises(BioqwenError, match=r"experiment\.name '\.\.': use letters"):
        experiments.plan(cfg, JOBS)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"experiment": {"name": "x"}, "steps": {"train": {"stat', ":1: malformed JSON"),
        ("[1, 2]", "not an experiment record"),
        ('{"steps": ["train"]}', "not an experiment record"),
        ('{"steps": {"train": "done"}}', "not an experiment record"),
    ],
)
def test_a_torn_or_misshaped_record_names_the_file(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "experiment.json").write_text(text)
    with pytest.raises(BioqwenError) as err:
        experiments.Ledger(tmp_path, {"name": "x"}, ["train"])
    assert str(tmp_path / "experiment.json") in str(err.value) and named in str(err.value)
