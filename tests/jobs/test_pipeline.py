"""`bioqwen pipeline`: the demo experiment, shrunk, end to end through the CLI: every step's run
directory and W&B run, skipping unchanged steps, stopping at a failed step and restarting
there, resuming an interrupted training step; bad input as one line and exit status 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bioqwen.runs import LOCK_FILE, exclusive
from tests.conftest import ROOT, offline_run

STEPS = [
    "prepare",
    "train-stage1",
    "train-stage2",
    "evaluate-ncbi",
    "evaluate-ncbi-stage1",
    "evaluate-webmedqa",
    "evaluate-cmedqa2",
    "export",
    "evaluate-cmedqa2-q4_0",
    "evaluate-cmedqa2-f16",
]
TRAIN = '["stage.max_steps=2","stage.save_steps=1","stage.eval_steps=0","stage.logging_steps=1"]'
EVALUATE = [
    "benchmark.limit=1",
    "generation.max_new_tokens=4",
    "generation.iteration_time_samples=0",
]

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def tiny(root: Path, *evaluate: str) -> list[str]:
    """The demo experiment in a few seconds per step, under root."""
    listed = ",".join(f'"{o}"' for o in [*EVALUATE, *evaluate])
    return [
        "pipeline",
        "+experiment=demo",
        f"pipeline.root={root}",
        f"pipeline.overrides.train={TRAIN}",
        f"pipeline.overrides.evaluate=[{listed}]",
    ]


def said(stdout: str) -> dict[str, str]:
    """Step name -> what the pipeline said it did."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("[demo ") and "] " in line:
            step, _, rest = line.split("] ", 1)[1].partition(": ")
            out[step] = rest.split(" (")[0]
    return out


def record(root: Path) -> dict:
    return json.loads((root / "demo" / "experiment.json").read_text())


@pytest.mark.slow
def test_demo_experiment_runs_skips_restarts_and_resumes(tmp_path: Path, run_cli: RunCli) -> None:
    root, demo = tmp_path, tmp_path / "demo"
    first = run_cli(*tiny(root))
    assert first.returncode == 0, first.stderr[-3000:]
    assert set(said(first.stdout).values()) == {"running"} and list(said(first.stdout)) == STEPS
    steps = record(root)["steps"]
    assert list(steps) == STEPS and {s["status"] for s in steps.values()} == {"done"}
    assert steps["train-stage2"]["inputs"]["upstream"].keys() == {"prepare", "train-stage1"}
    for name in STEPS:  # each step is the run directory its single job writes
        assert (demo / name / "metrics.json").exists() and (demo / name / "lineage.json").exists()
        tracked = offline_run(demo / name)
        assert tracked["group"] == "demo" and {"demo", f"step:{name}"} <= set(tracked["tags"])
        assert tracked["config"]["experiment"]["name"] == "demo"
    stage2 = json.loads((demo / "train-stage2" / "lineage.json").read_text())
    assert Path(stage2["init_from"]) == (demo / "train-stage1").resolve()
    assert (
        stage2["data"]["hash"]
        == json.loads((demo / "prepare/lineage.json").read_text())["data_hash"]
    )
    evaluated = json.loads((demo / "evaluate-ncbi" / "lineage.json").read_text())
    assert evaluated["model"] == str(demo / "train-stage2" / "merged")
    # W&B lineage: base -> stage 1 -> stage 2 -> export, each run's input the previous output.
    wandb = {n: json.loads((demo / n / "lineage.json").read_text())["wandb"] for n in STEPS[1:3]}
    exported = json.loads((demo / "export" / "lineage.json").read_text())["wandb"]
    assert wandb["train-stage1"]["inputs"][0]["type"] == "base-model"
    assert wandb["train-stage2"]["inputs"] == [
        {"ref": wandb["train-stage1"]["artifacts"]["merged"]}
    ]
    assert exported["inputs"] == [{"ref": wandb["train-stage2"]["artifacts"]["merged"]}]

    again = run_cli(*tiny(root))
    assert again.returncode == 0, again.stderr[-3000:]
    assert set(said(again.stdout).values()) == {"skipped, config and upstream outputs unchanged"}

    # A failing step stops the pipeline naming it; the next run starts again at that step.
    failed = run_cli(*tiny(root, "benchmark.data_dir=/nonexistent"))
    assert failed.returncode == 2
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith("bioqwen: error: experiment demo, step evaluate-ncbi failed:")
    assert record(root)["steps"]["evaluate-ncbi"]["status"] == "failed"
    assert "evaluate-webmedqa" not in said(failed.stdout)
    fixed = run_cli(*tiny(root))
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    actions = said(fixed.stdout)
    # The failed evaluation wrote nothing (gold is checked before its run opens): it runs anew.
    assert actions["train-stage2"].startswith("skipped") and actions["evaluate-ncbi"] == "running"
    assert actions["evaluate-webmedqa"].startswith("skipped")
    assert record(root)["steps"]["evaluate-ncbi"]["status"] == "done"

    # An interrupted training step (status still running, checkpoints but no metrics) resumes.
    state = record(root)
    state["steps"]["train-stage2"]["status"] = "running"
    (demo / "experiment.json").write_text(json.dumps(state))
    (demo / "train-stage2" / "metrics.json").unlink()
    resumed = run_cli(*tiny(root))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    actions = said(resumed.stdout)
    assert actions["train-stage2"].startswith("resuming")
    assert actions["evaluate-ncbi"].startswith("rerunning")  # its upstream output changed
    lineage = json.loads((demo / "train-stage2" / "lineage.json").read_text())
    assert lineage["resumed_from"].endswith("checkpoint-2")
    assert record(root)["steps"]["train-stage2"]["status"] == "done"


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, run_cli: RunCli) -> None:
    unknown = run_cli("pipeline", "+experiment=dmeo", f"pipeline.root={tmp_path}")
    assert unknown.returncode == 2
    (line,) = unknown.stderr.strip().splitlines()
    assert "unknown experiment 'dmeo'" in line and "paper/bioqwen_1_8b_stage2" in line
    for bad, named in [
        ("pipeline.nope=1", "pipeline.nope"),
        (
            "pipeline.overrides.train=['stage.lr=1']",
            "step train-stage1: Could not override 'stage.lr'",
        ),
    ]:
        proc = run_cli("pipeline", "+experiment=demo", f"pipeline.root={tmp_path}", bad)
        assert proc.returncode == 2, proc.stderr[-2000:]
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("bioqwen: error:") and named in line
    # Every step is composed before any runs: nothing was written for a step.
    assert not any(p.name in STEPS for p in (tmp_path / "demo").glob("*"))


def test_a_second_pipeline_on_one_experiment_fails_at_once_and_deletes_nothing(
    tmp_path: Path, run_cli: RunCli
) -> None:
    args = ["+experiment=demo", f"pipeline.root={tmp_path}", "tracking=disabled"]
    script = str(Path(__file__).with_name("hold_pipeline_step.py"))
    first = subprocess.Popen(
        [sys.executable, script, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None
        for line in first.stdout:  # the first pipeline is inside its prepare step
            if line.strip() == "holding":
                break
        work = tmp_path / "demo" / "prepare" / "work-in-progress"
        assert work.exists() and record(tmp_path)["steps"]["prepare"]["status"] == "running"
        # Without the lock the second one reran that step: deleted its directory, and went on.
        second = run_cli("pipeline", *args, timeout=120)
        assert second.returncode == 2, second.stderr[-3000:]
        (line,) = second.stderr.strip().splitlines()
        holder = f"pid {first.pid} on host {socket.gethostname()}"
        assert line.startswith("bioqwen: error: experiment demo") and holder in line
        assert work.exists() and record(tmp_path)["steps"]["prepare"]["status"] == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # A killed pipeline leaves no stale lock: the next one gets it.
    with exclusive(tmp_path / "demo" / LOCK_FILE, "experiment demo"):
        pass


@pytest.mark.parametrize("name", [".", ".."])
def test_a_step_named_dot_or_dotdot_stops_before_any_delete(
    tmp_path: Path, run_cli: RunCli, name: str
) -> None:
    # Step `.` is the experiment directory itself and `..` the pipeline root: a rerun deleted it.
    root = tmp_path / "root"
    kept = [root / "demo" / "experiment.json", root / "other-experiment" / "experiment.json"]
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_text('{"experiment": {}, "steps": {}}')
    steps = f"pipeline.steps=[{{name:'{name}',job:prepare}}]"
    proc = run_cli("pipeline", "+experiment=demo", f"pipeline.root={root}", steps)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert f"step name {name!r}: use letters" in line
    assert all(path.exists() for path in kept)
