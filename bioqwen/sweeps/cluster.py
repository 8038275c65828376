"""What a SLURM cluster says about itself: partitions and nodes (`scontrol show ... -o`) and the
states of jobs (`sacct` where the cluster keeps accounting, else `squeue`).

Only the SLURM command-line tools are used, each call bounded by a timeout, so the submitting
side of a sweep never waits on a controller that does not answer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from bioqwen.sweeps import SweepError

TIMEOUT_S = 30  # one SLURM command; a controller slower than this is treated as down
# Job states after which a job never runs again (`man squeue`, JOB STATE CODES).
ENDED = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)


def ended(state: str) -> bool:
    """Whether a job in this state runs no more (UNKNOWN: it left the queue unseen)."""
    return state in ENDED or state == "UNKNOWN"


@dataclass(frozen=True)
class Node:
    """One node's resources as slurmctld configured them."""

    name: str
    cpus: int
    memory_mb: int
    gpus: int
    partitions: tuple[str, ...]


@dataclass(frozen=True)
class Partition:
    """One partition: its nodes and its per-job limits (None: unlimited)."""

    name: str
    nodes: tuple[Node, ...]
    max_nodes: int | None
    max_mem_per_node_mb: int | None
    max_cpus_per_node: int | None


def available() -> bool:
    """Whether the SLURM client tools are on PATH."""
    return all(shutil.which(tool) for tool in ("sbatch", "scontrol", "squeue"))


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise SweepError(f"`{' '.join(command)}` did not answer in {TIMEOUT_S} s") from err


def _fields(line: str) -> dict[str, str]:
    """`A=1 B=x y C=2` (scontrol's one-line records; values may hold spaces) -> a dict."""
    keys = list(re.finditer(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:]*)=", line))
    fields = {}
    for match, following in zip(keys, [*keys[1:], None], strict=True):
        end = following.start() if following else len(line)
        fields[match.group(1)] = line[match.end() : end].strip()
    return fields


def _limit(value: str | None) -> int | None:
    if value is None or not value[:1].isdigit():
        return None  # UNLIMITED, NONE, (null)
    return int(re.match(r"\d+", value).group())  # type: ignore[union-attr]


def gpu_count(gres: str) -> int:
    """GPUs in a node's Gres (`gpu:4`, `gpu:a100:2(S:0-1),gpu:v100:1`, `(null)`)."""
    total = 0
    for item in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", item).split(":")
        if parts[0] == "gpu" and len(parts) > 1 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _show(kind: str) -> list[dict[str, str]]:
    result = _run("scontrol", "show", kind, "-o")
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise SweepError(f"`scontrol show {kind}` failed: {first}")
    return [_fields(line) for line in result.stdout.splitlines() if line.strip()]


def partitions() -> dict[str, Partition]:
    """Every partition of the cluster by name, with its nodes."""
    nodes = [
        Node(
            name=f["NodeName"],
            cpus=int(f.get("CPUTot", "0") or 0),
            memory_mb=int(f.get("RealMemory", "0") or 0),
            gpus=gpu_count(f.get("Gres", "")),
            partitions=tuple(p for p in f.get("Partitions", "").split(",") if p),
        )
        for f in _show("node")
    ]
    found = {}
    for f in _show("partition"):
        name = f["PartitionName"]
        found[name] = Partition(
            name=name,
            nodes=tuple(n for n in nodes if name in n.partitions),
            max_nodes=_limit(f.get("MaxNodes")),
            max_mem_per_node_mb=_limit(f.get("MaxMemPerNode")),
            max_cpus_per_node=_limit(f.get("MaxCPUsPerNode")),
        )
    return found


def default_partition() -> str | None:
    """The partition sbatch uses when none is named (`Default=YES`), if any."""
    for f in _show("partition"):
        if f.get("Default") == "YES":
            return f["PartitionName"]
    return None


def _sacct_states(job_ids: list[str]) -> dict[str, str] | None:
    """States from accounting; None where the cluster keeps none (sacct missing or refusing)."""
    if not shutil.which("sacct"):
        return None
    result = _run("sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(job_ids))
    if result.returncode != 0:
        return None  # "Slurm accounting storage is disabled"
    return dict(_state_line(line) for line in result.stdout.splitlines() if "|" in line)


def _state_line(line: str) -> tuple[str, str]:
    job, state = line.split("|")[:2]
    return job.strip(), state.split()[0].strip()  # "CANCELLED by 0" -> CANCELLED


def job_states(job_ids: Iterable[str]) -> dict[str, str]:
    """The SLURM state of each job id (`<array>_<task>` or plain) that the cluster still knows;
    squeue forgets ended jobs after MinJobAge (300 s by default), accounting keeps them."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    states = _sacct_states(ids)
    if states is not None:
        return {j: s for j, s in states.items() if j in ids}
    arrays = sorted({i.split("_")[0] for i in ids})  # -r lists each task of an array
    result = _run("squeue", "-h", "-r", "--states=all", "-o", "%i|%T", "-j", ",".join(arrays))
    if result.returncode != 0:  # squeue rejects a list where every id is already forgotten
        return {}
    found = dict(_state_line(line) for line in result.stdout.splitlines() if "|" in line)
    return {j: s for j, s in found.items() if j in ids}
