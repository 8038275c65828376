"""Reading SLURM's own output: scontrol records, GPU counts, job states without accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioqwen.sweeps import cluster
from bioqwen.sweeps.launcher import forgotten_state

# `scontrol show node -o` on the one-node test cluster (slurm-wlm 22.05.8), shortened.
NODE = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=1  CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=1.85 "
    "Gres=gpu:a100:2(S:0-1) NodeAddr=vm OS=Linux 6.18.44-fc-v1300 #1 SMP PREEMPT_DYNAMIC @0  "
    "RealMemory=23081 AllocMem=0 State=IDLE Partitions=debug,gpu  BootTime=2026-12-07T23:22:49"
)


def test_scontrol_records_keep_values_with_spaces() -> None:
    fields = cluster._fields(NODE)
    assert fields["CPUTot"] == "2" and fields["RealMemory"] == "23081"
    assert fields["OS"] == "Linux 6.18.44-fc-v1300 #1 SMP PREEMPT_DYNAMIC @0"
    assert fields["Partitions"] == "debug,gpu"


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [("(null)", 0), ("gpu:4", 4), ("gpu:a100:2(S:0-1)", 2), ("gpu:a100:2,gpu:v100:1", 3)],
)
def test_gpu_count(gres: str, gpus: int) -> None:
    assert cluster.gpu_count(gres) == gpus


def test_a_job_that_left_the_queue_unseen(tmp_path: Path) -> None:
    result = tmp_path / "7_0_0_result.pkl"
    assert forgotten_state("PENDING", result) == "CANCELLED"  # squeue drops it at once
    assert forgotten_state("RUNNING", result) == "UNKNOWN"
    result.write_bytes(b"")
    assert forgotten_state("RUNNING", result) == "COMPLETED"
    assert cluster.ended("UNKNOWN") and cluster.ended("PREEMPTED")
    assert not cluster.ended("PENDING") and not cluster.ended("REQUEUED")


def test_an_end_state_counts_only_once_it_has_held(tmp_path: Path, monkeypatch) -> None:
    """A requeued job shows FAILED for a moment before PENDING: it must not end the point."""
    from bioqwen.sweeps import launcher

    clock = [100.0]
    monkeypatch.setattr(launcher.time, "monotonic", lambda: clock[0])
    job = launcher.PointJob(0, [], tmp_path, "7_0", tmp_path / "log", tmp_path / "result.pkl")
    assert not launcher.settled(job, "FAILED")
    clock[0] += 1
    assert launcher.settled(job, "PENDING")  # requeued: the FAILED never counted
    assert not launcher.settled(job, "FAILED")
    clock[0] += launcher.SETTLE_S
    assert launcher.settled(job, "FAILED")  # held: the point failed
    assert launcher.settled(job, "CANCELLED")  # scancel is final at once
