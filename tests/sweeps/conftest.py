"""The real one-node SLURM cluster of the sweep tests: started once (scripts/slurm/setup.sh,
as root) where it is not running; the tests that need it skip, saying why, where it cannot."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SETUP = ROOT / "scripts" / "slurm" / "setup.sh"
LOCK = Path("/tmp/bioqwen-slurm-setup.lock")  # xdist workers start the cluster once


def cluster_up() -> bool:
    """Whether slurmctld answers and the node takes jobs."""
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
        node = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    states = node.stdout.split()
    return "UP" in ping.stdout and any(s.startswith(("idle", "mix", "alloc")) for s in states)


def default_partition() -> str:
    """The cluster's default partition (marked `*` by sinfo)."""
    lines = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout
    return next(p.rstrip("*") for p in lines.split() if p.endswith("*"))


@pytest.fixture(scope="session")
def slurm_partition() -> Iterator[str]:
    """A running SLURM cluster's default partition (the cluster is left running afterwards)."""
    if not cluster_up():
        if os.geteuid() != 0:
            pytest.skip(f"no SLURM cluster running, and starting one ({SETUP}) needs root")
        with LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cluster_up():
                result = subprocess.run(
                    ["bash", str(SETUP)], capture_output=True, text=True, timeout=300
                )
                if result.returncode != 0 or not cluster_up():
                    tail = " | ".join(result.stderr.strip().splitlines()[-3:])
                    pytest.skip(f"SLURM could not start ({SETUP} exit {result.returncode}): {tail}")
    yield default_partition()
