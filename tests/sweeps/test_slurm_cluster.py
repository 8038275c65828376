"""Real sweeps through a real one-node SLURM cluster (2 CPUs; tests/sweeps/conftest.py starts
it): scheduler events end up in the summary, a requeued point resumes, bad resources stop
before submission. Each test runs in `make test`; together about 2-3 minutes on 2 cores."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bioqwen.sweeps import SweepError
from bioqwen.sweeps.callback import check_sweep
from bioqwen.tracking import read_offline_run
from tests.conftest import ROOT, cli
from tests.sweeps.test_callback import compose_with_hydra

# Tiny training paced to 0.4 s per optimizer step (tests/sweeps/paced.py), a checkpoint every
# 2 steps: long enough to cancel or requeue a point while it trains.
TINY = (
    "model=tiny",
    "data/mix=sample",
    "stage.max_steps=12",
    "stage.save_steps=2",
    "stage.logging_steps=1",
    "stage.eval_steps=6",
    "stage.per_device_batch_size=2",
    "stage.effective_batch_size=2",
    "max_train_samples=16",
    "max_eval_samples=4",
    "generation_eval.hook._target_=tests.sweeps.paced.hook",
    "generation_eval.every_steps=1",
    "+generation_eval.hook.seconds=0.4",
)


def slurm_sweep(sweep_dir: Path, partition: str, *overrides: str) -> list[str]:
    """The `bioqwen train -m` command line of a slurm_cpu sweep into sweep_dir."""
    return [
        sys.executable,
        "-m",
        "bioqwen.cli",
        "train",
        "-m",
        *TINY,
        "hydra/launcher=slurm_cpu",
        f"hydra.launcher.partition={partition}",
        "hydra.launcher.poll_s=1",
        "hydra.launcher.timeout_min=10",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]


def record(point: Path) -> dict:
    """A point's slurm.json (its job id and last seen state), {} before submission."""
    path = point / "slurm.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def summary_rows(sweep_dir: Path) -> dict[str, dict[str, str]]:
    with open(sweep_dir / "sweep_summary.csv") as handle:
        return {row["point"]: row for row in csv.DictReader(handle)}


def test_cancelled_and_requeued_points_are_results(tmp_path: Path, slurm_partition: str) -> None:
    """2 x 2 grid, two points at a time: point 0 is cancelled while running, point 3 while
    pending, point 1 is requeued after its first checkpoint and resumes from it; point 2 runs."""
    skip = ("WANDB_SERVICE", "CUDA_VISIBLE_DEVICES")  # sbatch would hand ours to the points
    environment = {k: v for k, v in os.environ.items() if k not in skip}
    command = slurm_sweep(
        tmp_path,
        slurm_partition,
        "stage.learning_rate=1e-4,3e-3",
        "method.lora.r=4,8",
        "hydra.callbacks.sweep.gpus=[0,1]",  # for submitit_local only: SLURM binds GPUs itself
    )
    sweep = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**environment, "WANDB_MODE": "offline"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        points = [tmp_path / str(n) for n in range(4)]
        wait_for(lambda: all(record(p) for p in points), "the array's submission")
        job = {n: record(p)["job_id"] for n, p in enumerate(points)}
        wait_for(lambda: record(points[3])["state"] == "PENDING", "point 3 pending")
        subprocess.run(["scancel", job[3]], check=True)
        wait_for(lambda: record(points[0])["state"] == "RUNNING", "point 0 running")
        subprocess.run(["scancel", job[0]], check=True)
        wait_for(lambda: any((points[1] / "checkpoints").glob("checkpoint-*")), "a checkpoint")
        subprocess.run(["scontrol", "requeue", job[1]], check=True)
        # SLURM holds a requeued job 2 minutes (Reason=BeginTime); release it now.
        wait_for(lambda: record(points[1])["state"] == "PENDING", "point 1 requeued")
        subprocess.run(["scontrol", "update", f"JobId={job[1]}", "StartTime=now"], check=True)
        output, _ = sweep.communicate(timeout=420)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            subprocess.run(["scancel", *(record(p).get("job_id", "0") for p in points)])
    assert sweep.returncode == 0, output[-3000:]
    array = job[0].split("_")[0]
    assert f"submitted SLURM array job {array} (4 points)" in output
    rows = summary_rows(tmp_path)
    assert [(r["status"], r["slurm_state"], r["job_id"]) for r in rows.values()] == [
        ("cancelled", "CANCELLED", job[0]),
        ("ok", "COMPLETED", job[1]),
        ("ok", "COMPLETED", job[2]),
        ("cancelled", "CANCELLED", job[3]),
    ]
    assert "while running" in rows["0"]["reason"] and "before it started" in rows["3"]["reason"]
    assert float(rows["1"]["final_eval_loss"]) > 0 and float(rows["2"]["final_eval_loss"]) > 0
    for n in (1, 2):  # no CUDA_VISIBLE_DEVICES from bioqwen (none from SLURM on a CPU node)
        metrics = json.loads((points[n] / "metrics.json").read_text())
        assert metrics["gen/cuda_visible_devices"] == -1
    assert "4 points, 2 ok, 2 cancelled" in (tmp_path / "sweep_summary.md").read_text()
    assert (tmp_path / "sweep_heatmap.png").is_file()
    # The requeued point went on from its checkpoint, in the same W&B run.
    lineage = json.loads((points[1] / "lineage.json").read_text())
    assert "checkpoints/checkpoint-" in str(lineage["resumed_from"])
    runs = sorted((points[1] / "wandb").glob("offline-run-*"))  # offline-run-<time>-<run id>
    assert len(runs) == 2 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1, runs
    assert read_offline_run(runs[-1])["complete"]
    assert (points[1] / "config.resume-1.yaml").is_file()
    status = cli("sweep", "status", str(tmp_path))
    assert status.returncode == 0, status.stderr
    assert f"{job[3]:<12} CANCELLED    cancelled" in status.stdout
    assert "4 of 4 points ended" in status.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hydra.launcher.partition=gpu", "hydra.launcher.partition=gpu: no such partition"),
        ("hydra.launcher.cpus_per_task=64", "hydra.launcher.cpus_per_task=64 (x tasks_per_node=1)"),
        ("hydra.launcher.mem_gb=100000", "hydra.launcher.mem_gb=100000: partition"),
        ("hydra.launcher.gpus_per_node=1", "hydra.launcher.gpus_per_node=1: partition"),
        ("hydra.launcher.nodes=2", "hydra.launcher.nodes=2: partition"),
    ],
    ids=["unknown-partition", "too-many-cpus", "too-much-memory", "no-gpus", "too-many-nodes"],
)
def test_resources_the_partition_cannot_give_are_named(
    slurm_partition: str, override: str, message: str
) -> None:
    cfg = compose_with_hydra(
        "hydra/launcher=slurm_cpu", f"hydra.launcher.partition={slurm_partition}", override
    )
    with pytest.raises(SweepError, match=r"at most|no such partition") as raised:
        check_sweep(cfg)
    assert message in str(raised.value)


def test_the_shipped_presets_fit_or_are_refused(slurm_partition: str) -> None:
    check_sweep(
        compose_with_hydra(
            "hydra/launcher=slurm_cpu", f"hydra.launcher.partition={slurm_partition}"
        )
    )
    gpu = compose_with_hydra("hydra/launcher=slurm", f"hydra.launcher.partition={slurm_partition}")
    with pytest.raises(SweepError, match=r"cpus_per_task=8 .* at most 2 CPUs"):
        check_sweep(gpu)  # the GPU preset (8 CPUs, 1 GPU, 64 GB) on this 2-CPU node


def test_bad_resources_stop_the_command_before_submission(
    tmp_path: Path, slurm_partition: str
) -> None:
    command = slurm_sweep(tmp_path / "sweep", slurm_partition, "stage.learning_rate=1e-4,3e-3")
    result = subprocess.run(
        [*command, "hydra.launcher.cpus_per_task=64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("bioqwen: error:")]
    assert f"partition {slurm_partition}'s nodes have at most" in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sweep").exists()  # no multirun.yaml, no .submitit pickles


@pytest.mark.slow
def test_the_time_limit_signal_checkpoints_requeues_then_times_out(
    tmp_path: Path, slurm_partition: str
) -> None:
    """One point with a 2-minute limit and the signal 60 s before it, no periodic checkpoint: the
    first attempt saves a checkpoint at the signal and is requeued; the second resumes from it,
    is not requeued again (max_num_timeout=1) and ends as TIMEOUT, a row of the summary."""
    command = slurm_sweep(
        tmp_path,
        slurm_partition,
        "stage.learning_rate=1e-4",
        "stage.max_steps=400",  # 160 s of paced steps: more than either attempt has
        "stage.save_steps=1000",
        "stage.eval_steps=1000",
        "tracking=disabled",
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=60",
        "hydra.launcher.max_num_timeout=1",
    )
    command.remove("hydra.launcher.timeout_min=10")
    sweep = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
    point = tmp_path / "0"
    try:
        wait_for(lambda: record(point).get("state") == "RUNNING", "the first attempt")
        wait_for(lambda: record(point)["state"] == "PENDING", "the requeue", timeout=150)
        saved = sorted((point / "checkpoints").glob("checkpoint-*"))
        subprocess.run(["scontrol", "update", f"JobId={record(point)['job_id']}", "StartTime=now"],
                       check=True)  # fmt: skip
        output, _ = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            subprocess.run(["scancel", record(point).get("job_id", "0")])
    # its one point ended TIMEOUT: a sweep whose every point failed exits 1, summary written
    assert sweep.returncode == 1, output[-3000:]
    assert "every sweep point failed (1)" in output
    assert len(saved) == 1 and int(saved[0].name.split("-")[1]) % 1000, saved  # at the signal
    assert (point / "config.resume-1.yaml").is_file()  # the second attempt resumed
    (row,) = summary_rows(tmp_path).values()
    assert (row["status"], row["slurm_state"]) == ("timeout", "TIMEOUT"), row
