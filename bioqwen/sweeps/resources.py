"""A SLURM launcher config checked against what the cluster can give, before submission.

sbatch itself fails late and unreadably (`Invalid generic resource (gres) specification` as a
submitit traceback after multirun.yaml is written) or not at all (an array pending forever with
`Reason=PartitionConfig`); these checks name the key and the limit instead.
"""

from __future__ import annotations

from typing import Any

from bioqwen.sweeps import SweepError, cluster

KEY = "hydra.launcher"


def _gpus_asked(launcher: dict[str, Any]) -> tuple[str, int] | None:
    """The key and the number of GPUs per node the config asks for, if any."""
    tasks = int(launcher.get("tasks_per_node") or 1)
    if launcher.get("gpus_per_node"):
        return "gpus_per_node", int(launcher["gpus_per_node"])
    if launcher.get("gpus_per_task"):
        return "gpus_per_task", int(launcher["gpus_per_task"]) * tasks
    gres = str(launcher.get("gres") or "")
    if gres:
        return "gres", cluster.gpu_count(gres if gres.startswith("gpu") else f"gpu:{gres}")
    return None


def _mem_gb(node: cluster.Node) -> float:
    return node.memory_mb / 1024


def check_resources(launcher: dict[str, Any], partitions: dict[str, cluster.Partition]) -> None:
    """Each resource the launcher asks per point fits one node of its partition."""
    name = launcher.get("partition")
    if name not in partitions:
        known = ", ".join(sorted(partitions)) or "none"
        raise SweepError(
            f"{KEY}.partition={name}: no such partition on this cluster (partitions: {known})"
        )
    part = partitions[name]
    if not part.nodes:
        raise SweepError(f"{KEY}.partition={name}: the partition has no nodes")
    nodes = int(launcher.get("nodes") or 1)
    limit = min(len(part.nodes), part.max_nodes or len(part.nodes))
    if nodes > limit:
        raise SweepError(f"{KEY}.nodes={nodes}: partition {name} gives at most {limit} node(s)")
    cpus = int(launcher.get("cpus_per_task") or 1) * int(launcher.get("tasks_per_node") or 1)
    most_cpus = max(n.cpus for n in part.nodes)
    if part.max_cpus_per_node is not None:
        most_cpus = min(most_cpus, part.max_cpus_per_node)
    if cpus > most_cpus:
        raise SweepError(
            f"{KEY}.cpus_per_task={launcher.get('cpus_per_task')}"
            f" (x tasks_per_node={launcher.get('tasks_per_node') or 1}): partition {name}'s "
            f"nodes have at most {most_cpus} CPUs"
        )
    gpus = _gpus_asked(launcher)
    most_gpus = max(n.gpus for n in part.nodes)
    if gpus is not None and gpus[1] > most_gpus:
        key, count = gpus
        raise SweepError(
            f"{KEY}.{key}={launcher.get(key)}: partition {name}'s nodes have at most "
            f"{most_gpus} GPUs ({count} asked per node); on a CPU partition use "
            "hydra/launcher=slurm_cpu"
        )
    if launcher.get("mem_gb"):
        most_gb = max(_mem_gb(n) for n in part.nodes)
        if part.max_mem_per_node_mb is not None:
            most_gb = min(most_gb, part.max_mem_per_node_mb / 1024)
        if float(launcher["mem_gb"]) > most_gb:
            raise SweepError(
                f"{KEY}.mem_gb={launcher['mem_gb']}: partition {name}'s nodes have at most "
                f"{most_gb:.1f} GB"
            )


def check_cluster(launcher: dict[str, Any]) -> None:
    """check_resources against this machine's cluster (the SLURM tools must be on PATH)."""
    if not cluster.available():
        raise SweepError(
            "hydra/launcher=slurm: sbatch, scontrol and squeue are not on PATH "
            "(submit from a SLURM login node)"
        )
    check_resources(launcher, cluster.partitions())
