"""`bioqwen plan`: cost of a run or a grid before launch, every number with its source."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from omegaconf import OmegaConf

from bioqwen.checkout import compose, plain
from bioqwen.errors import BioqwenError
from bioqwen.jobs import plan as plan_job
from bioqwen.plan import cost, speed
from tests.conftest import FIXTURES, ROOT, cli

GRID = ["stage.learning_rate=1e-5,1e-4,2e-4,3e-4", "method.lora.r=16,64"]
TABLE = FIXTURES / "plan" / "gpu_train_throughput.json"  # made-up numbers (a test fixture)


def planned(tmp_path, *args: str, capsys=None) -> dict:
    """Run the plan in-process on these command-line arguments; the JSON it would save."""
    own, train, experiment, multirun = plan_job.split_command_line(list(args))
    out = tmp_path / "plan.json"
    defaults = [f"plan.runs=[{tmp_path / 'no-runs'}]", f"plan.table={tmp_path / 'no-table.json'}"]
    cfg = compose("plan", [*defaults, f"plan.out={out}", *own])
    OmegaConf.update(cfg, "plan.overrides", train, merge=False)
    OmegaConf.update(cfg, "plan.experiment", experiment)
    OmegaConf.update(cfg, "plan.multirun", multirun)
    plan_job.run(cfg)
    return json.loads(out.read_text())


def card_run(directory: Path, train: int, validation: int, tokens: int) -> Path:
    """A prepare run directory holding a data card of that size."""
    directory.mkdir(parents=True)
    card = {"splits": {"train": train, "validation": validation}, "total": {"tokens": tokens}}
    (directory / "data_card.json").write_text(json.dumps(card))
    return directory


def test_paper_grid_4x2_prices_every_point_from_the_paper_with_sources(tmp_path):
    plan = planned(tmp_path, "-m", "+experiment=paper/bioqwen_0_5b_stage2", *GRID)
    runs = plan["runs"]
    assert plan["totals"]["plan/points"] == 8 and len(runs) == 16  # stage 1 + stage 2 per point
    assert {r["point"] for r in runs} == set(range(1, 9))
    stage2 = [r for r in runs if r["stage"] == "stage2"]
    # 87.0 M Table 1 tokens x 5 epochs on 4x RTX 3090 in 18 h: the paper's own run is 72 GPU-h.
    assert all(
        r["gpu"] == "RTX 3090" and "paper: BioQwen-0.5B stage 2 18 h" in r["speed_source"]
        for r in stage2
    )
    assert stage2[0]["gpu_hours"] == pytest.approx(72.0, rel=0.01)
    assert all("no measurement on H100" in r["speed_source"] for r in runs)
    assert all("paper Table 1" in r["tokens_source"] for r in runs)
    assert {r["overrides"][0] for r in runs} == {
        f"stage.learning_rate={v}" for v in ("1e-05", "0.0001", "0.0002", "0.0003")
    }
    total = sum(r["gpu_hours"] for r in runs)
    assert plan["totals"]["plan/gpu_hours/RTX 3090"] == pytest.approx(total, abs=1e-3)


def test_grid_points_equal_a_full_composition_of_each_point(tmp_path):
    # A point's values are applied to one shared composition: each must equal composing it anew.
    plan = planned(
        tmp_path, "-m", "model=qwen2_0_5b", "stage=stage1", "stage.per_device_batch_size=2,8"
    )
    for run, per_device in zip(plan["runs"], (2, 8), strict=True):
        alone = plain(
            compose(
                "train",
                ["model=qwen2_0_5b", "stage=stage1", f"stage.per_device_batch_size={per_device}"],
            )
        )
        size = cost.paper_size(
            alone["data"]["mix"],
            ["NER", "RE", "MT"],
            yaml.safe_load((ROOT / "conf/paper/table1.yaml").read_text()),
            "t",
        )
        assert run["steps"] == cost.schedule(alone["stage"], 1, size).steps
        assert f"{per_device} per device x {64 // per_device} accumulation" in run["steps_source"]


@pytest.mark.parametrize(
    ("samples", "per_device", "effective", "epochs", "max_steps"),
    [
        (1000, 4, 64, 3, -1),
        (1001, 4, 64, 5, -1),
        (37, 8, 16, 2, -1),
        (500, 4, 64, 3, 7),
        (3, 4, 8, 1, -1),
    ],
)
def test_optimizer_steps_are_the_trainers(samples, per_device, effective, epochs, max_steps):
    from transformers import Trainer

    stage = {
        "per_device_batch_size": per_device,
        "effective_batch_size": effective,
        "batching": "pad",
        "max_length": 1024,
        "epochs": epochs,
        "max_steps": max_steps,
    }
    mine = cost.schedule(stage, 1, cost.MixSize(samples, samples * 100, "test"))
    accumulation = effective // per_device
    args = SimpleNamespace(
        max_steps=max_steps, num_train_epochs=epochs, gradient_accumulation_steps=accumulation
    )
    trainer = SimpleNamespace(
        get_total_train_batch_size=lambda a: per_device * accumulation,
        get_sp_size=lambda: 1,
        num_examples=lambda loader: samples,
    )
    loader = [None] * math.ceil(samples / per_device)  # one micro-batch per element
    values = Trainer.set_initial_training_values(trainer, args, loader)
    assert mine.steps == values[-1] and mine.accumulation == accumulation


def test_a_data_card_gives_the_mix_size(tmp_path):
    prepared = card_run(tmp_path / "prep", train=900, validation=100, tokens=1_000_000)
    plan = planned(tmp_path, "model=qwen2_0_5b", "stage=stage1", f"data_dir={prepared}")
    (run,) = plan["runs"]
    assert run["samples"] == 900 and run["tokens"] == 900_000
    assert run["tokens_source"].startswith(f"data card {prepared / 'data_card.json'}")
    assert run["steps"] == 3 * math.ceil(math.ceil(900 / 4) / 16)


def measured_run(root: Path, name: str, tokens_per_s: float, gpu: str | None) -> None:
    """A finished train run of qwen2_0_5b stage 1 with its measured speed (and W&B metadata)."""
    run = root / name
    run.mkdir(parents=True)
    cfg = OmegaConf.to_yaml(compose("train", ["model=qwen2_0_5b", "stage=stage1"]), resolve=True)
    (run / "config.yaml").write_text(cfg)
    (run / "metrics.json").write_text(json.dumps({speed.RUN_KEY: tokens_per_s}))
    if gpu is not None:
        meta = run / "wandb" / "offline-run-1" / "files" / "wandb-metadata.json"
        meta.parent.mkdir(parents=True)
        meta.write_text(json.dumps({"gpu": gpu, "gpu_count": 1}))


def test_measured_runs_of_the_same_shape_on_that_gpu_price_it(tmp_path):
    prepared = card_run(tmp_path / "prep", train=64_000, validation=0, tokens=64_000_000)
    runs = tmp_path / "runs"
    measured_run(runs, "a", 9000.0, "NVIDIA H100 80GB HBM3")
    measured_run(runs, "b", 11000.0, "NVIDIA H100 80GB HBM3")
    measured_run(runs, "c", 1.0, "NVIDIA A100-SXM4-40GB")  # another GPU
    measured_run(runs, "d", 1.0, None)  # device not recorded: not used
    plan = planned(
        tmp_path, "model=qwen2_0_5b", "stage=stage1", f"data_dir={prepared}", f"plan.runs=[{runs}]"
    )
    (run,) = plan["runs"]
    assert run["tokens_per_s"] == 10000.0 and run["gpu"] == "NVIDIA H100 80GB HBM3"
    assert run["speed_source"].startswith(f"measured: {speed.RUN_KEY} of 2 train run(s)")
    assert run["gpu_hours"] == pytest.approx(64_000_000 * 3 / 10000 / 3600)


def test_the_benchmark_table_prices_a_shape_no_run_measured(tmp_path):
    plan = planned(
        tmp_path,
        "model=qwen2_0_5b",
        "stage=stage1",
        "stage.batching=padding_free",
        f"plan.table={TABLE}",
        "plan.gpu=h100",
    )
    (run,) = plan["runs"]
    assert run["speed_source"].startswith(f"GPU benchmark table {TABLE}: NVIDIA H100")
    assert run["tokens_per_s"] == 20000.0  # the faster backend of the two fixture rows


def test_the_benchmark_writes_the_table_the_plan_reads(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_train_throughput as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    result = bench.Result(
        "Qwen2-0.5B", "qlora", "padding", "sdpa", 4, 1234.5, 1500.0, 0.2, 0.1, 0.3, 9.0
    )
    path = tmp_path / "table.json"
    bench.write_table(str(path), bench.table_rows([result], "NVIDIA H100 80GB HBM3", 1024))
    (row,) = speed.read_table(path)
    assert row["model"] == "Qwen/Qwen2-0.5B" and row["batching"] == "pad"
    want = speed.shape(plain(compose("train", ["model=qwen2_0_5b", "stage=stage1"])))
    assert speed.from_table(want, "H100", [row], str(path)).tokens_per_s == 1234.5
    other = bench.table_rows([result], "NVIDIA A100", 1024)
    bench.write_table(str(path), other)
    assert {r["gpu"] for r in speed.read_table(path)} == {"NVIDIA H100 80GB HBM3", "NVIDIA A100"}


def test_a_model_nobody_measured_says_which_sources_it_tried(tmp_path):
    prepared = card_run(tmp_path / "prep", train=100, validation=10, tokens=20_000)
    plan = planned(tmp_path, "model=tiny", "stage=stage1", "method=lora", f"data_dir={prepared}")
    (run,) = plan["runs"]
    assert run["gpu_hours"] is None and plan["totals"]["plan/unpriced_runs"] == 1
    assert run["speed_source"].startswith("no measured speed for tiny lora pad x4")
    assert "no paper hours for tiny stage1" in run["speed_source"]


def test_bad_command_lines_are_one_error_each(tmp_path):
    with pytest.raises(BioqwenError, match="a sweep needs -m"):
        planned(tmp_path, "stage.learning_rate=1e-4,2e-4")
    with pytest.raises(
        BioqwenError, match=r"no data card .* run `bioqwen prepare data/mix=sample`"
    ):
        planned(tmp_path, "model=tiny", "data/mix=sample")
    with pytest.raises(BioqwenError, match="unknown experiment 'paper/nope'"):
        planned(tmp_path, "+experiment=paper/nope")
    with pytest.raises(BioqwenError, match=r"stage\.learning_rat"):
        planned(tmp_path, "-m", "stage.learning_rat=1e-4,2e-4")


def test_the_cli_prints_the_grid_and_its_total_without_importing_torch(tmp_path):
    code = (
        "import sys; from bioqwen.jobs import plan; "
        f"sys.argv = ['bioqwen-plan', '-m', '+experiment=paper/bioqwen_0_5b_stage2', *{GRID!r}, "
        f"'plan.runs=[{tmp_path}]']; plan.main(); "
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "[8/8] stage.learning_rate=0.0003 method.lora.r=64" in out
    assert "total: 8 point(s), 16 train run(s)" in out and "GPU-hours" in out
    assert "HEAVY []" in out, f"planning imported {out.splitlines()[-1]} ({took:.1f} s)"


def test_the_cli_reports_a_user_error_in_one_line_exit_2(tmp_path):
    done = cli("plan", "stage.learning_rate=1e-4,2e-4")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("bioqwen: error: stage.learning_rate=")
