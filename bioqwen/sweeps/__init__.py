"""Sweeps: what a Hydra multirun adds to a job, and what is left of a sweep once it ends.

- `point`: one point of a multirun (W&B group and tags, status file, objective, surviving a
  failure); `jobs/common.py` calls it.
- `summary`: the Hydra callback that writes sweep_summary.md/.csv, the heatmap and the loss
  curves into the sweep directory (`render_sweep` does the same for any sweep directory).
- `callback`: the checks before a sweep starts, GPU placement, the summary at its end.
- SLURM: `launcher` (what bioqwen's launcher, hydra_plugins/bioqwen_launcher, adds: bounded
  polling, scheduler states as results, resume after a requeue), `cluster` (sinfo/scontrol/
  sacct/squeue), `resources` (a launcher config against the partition's limits),
  `preemption` (the time-limit signal and SIGTERM on the compute node), `command`
  (`bioqwen sweep status|summarize <sweep dir>`).
- `wandb_sweeps`: reading and expanding the W&B sweep files in sweeps/.
"""

from hydra.errors import CompactHydraException

from bioqwen.errors import BioqwenError


class SweepError(BioqwenError, CompactHydraException):
    """A mistake in a sweep's setup: Hydra prints it as one line (no traceback)."""
