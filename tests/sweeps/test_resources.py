"""Launcher resources checked against partitions (described here: no cluster needed)."""

from __future__ import annotations

import pytest

from bioqwen.sweeps import SweepError
from bioqwen.sweeps.cluster import Node, Partition
from bioqwen.sweeps.resources import check_resources

CPU = Node("c1", cpus=2, memory_mb=8192, gpus=0, partitions=("cpu",))
GPU = Node("g1", cpus=32, memory_mb=262144, gpus=4, partitions=("gpu",))
PARTITIONS = {
    "cpu": Partition(
        "cpu", (CPU,), max_nodes=None, max_mem_per_node_mb=None, max_cpus_per_node=None
    ),
    "gpu": Partition(
        "gpu", (GPU,), max_nodes=1, max_mem_per_node_mb=131072, max_cpus_per_node=None
    ),
}
GPU_POINT = {"partition": "gpu", "cpus_per_task": 8, "gpus_per_node": 1, "mem_gb": 64}


def test_points_that_fit_pass() -> None:
    check_resources(GPU_POINT, PARTITIONS)
    check_resources({"partition": "cpu", "cpus_per_task": 1, "mem_gb": 4}, PARTITIONS)
    check_resources({**GPU_POINT, "gpus_per_node": None, "gres": "gpu:a100:4"}, PARTITIONS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"partition": "a100"}, "hydra.launcher.partition=a100: no such partition on this "
         "cluster (partitions: cpu, gpu)"),
        ({"partition": "cpu"}, "hydra.launcher.cpus_per_task=8 (x tasks_per_node=1): partition "
         "cpu's nodes have at most 2 CPUs"),
        ({"partition": "cpu", "cpus_per_task": 1}, "hydra.launcher.gpus_per_node=1: partition "
         "cpu's nodes have at most 0 GPUs (1 asked per node); on a CPU partition use "
         "hydra/launcher=slurm_cpu"),
        ({"gpus_per_node": 8}, "at most 4 GPUs"),
        ({"gpus_per_node": None, "gres": "gpu:8"}, "hydra.launcher.gres=gpu:8"),
        ({"mem_gb": 200}, "hydra.launcher.mem_gb=200: partition gpu's nodes have at most 128.0 GB"),
        ({"nodes": 2}, "hydra.launcher.nodes=2: partition gpu gives at most 1 node(s)"),
    ],
)  # fmt: skip
def test_what_the_partition_cannot_give_is_named(change: dict, message: str) -> None:
    with pytest.raises(SweepError) as raised:
        check_resources({**GPU_POINT, **change}, PARTITIONS)
    assert message in str(raised.value)
