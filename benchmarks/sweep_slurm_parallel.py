"""A 2 x 2 tiny grid on the SLURM node: two points at a time vs one at a time (same grid).

    python benchmarks/sweep_slurm_parallel.py [--steps 8] [--partition <name>] [--rounds 1]

Both runs are `bioqwen train -m hydra/launcher=slurm_cpu` (one CPU per point) on the
cluster scripts/slurm/setup.sh brings up (2 CPUs): `hydra.launcher.array_parallelism=2`
against `=1`, W&B off, into fresh sweep directories. Prints each run's wall time (submission
to summary), the ratio parallel / sequential, and the load average before and after, since
other work on the machine moves both numbers. `--rounds` alternates the two to even out
slow spells.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bioqwen.checkout import ROOT


def grid(sweep_dir: Path, partition: str, steps: int, parallel: int) -> float:
    """Wall seconds of one 2 x 2 grid with at most `parallel` points at once."""
    command = [
        sys.executable,
        "-m",
        "bioqwen.cli",
        "train",
        "-m",
        "model=tiny",
        "data/mix=sample",
        f"stage.max_steps={steps}",
        "stage.logging_steps=1",
        f"stage.eval_steps={steps}",
        "stage.per_device_batch_size=2",
        "stage.effective_batch_size=2",
        "max_train_samples=16",
        "max_eval_samples=4",
        "tracking=disabled",
        "stage.learning_rate=1e-4,3e-3",
        "method.lora.r=4,8",
        "hydra/launcher=slurm_cpu",
        f"hydra.launcher.partition={partition}",
        f"hydra.launcher.array_parallelism={parallel}",
        "hydra.launcher.poll_s=1",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if (
        result.returncode != 0
        or "4 points, 4 ok" not in (sweep_dir / "sweep_summary.md").read_text()
    ):
        sys.exit(f"grid with array_parallelism={parallel} failed:\n{result.stderr[-3000:]}")
    return wall


def default_partition() -> str:
    names = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout
    return next(p.rstrip("*") for p in names.split() if p.endswith("*"))


def main() -> None:
    """Run both grids and print their wall times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--partition", default=None)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    partition = args.partition or default_partition()
    cpus = subprocess.run(["sinfo", "-h", "-p", partition, "-o", "%c"], capture_output=True,
                          text=True).stdout.split()  # fmt: skip
    print(f"partition {partition}: {cpus[0] if cpus else '?'} CPUs per node")
    load_before = os.getloadavg()[0]
    walls: dict[int, list[float]] = {2: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for parallel in (2, 1):
                sweep_dir = Path(tmp) / f"round{round_}-parallel{parallel}"
                walls[parallel].append(grid(sweep_dir, partition, args.steps, parallel))
                print(f"  array_parallelism={parallel}: {walls[parallel][-1]:.1f} s", flush=True)
    two, one = min(walls[2]), min(walls[1])
    print(f"2 x 2 grid, {args.steps} steps per point, best of {args.rounds}:")
    print(f"  two points at a time : {two:7.1f} s")
    print(f"  one point at a time  : {one:7.1f} s")
    print(f"  ratio                : {two / one:7.2f}  (target <= 0.6)")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
