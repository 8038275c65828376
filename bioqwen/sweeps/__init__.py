"""Sweeps: what a Hydra multirun adds to a job, and what is left of a sweep once it ends.

- `point`: one point of a multirun (W&B group and tags, status file, objective, surviving a
  failure); `jobs/common.py` calls it.
- `summary`: sweep_summary.md/.csv, the heatmap and the loss curves of a sweep directory
  (`render_sweep`, for any sweep directory; `plots` draws the figures).
- `callback`: the Hydra callback: checks before any point (keys, objective, seeds, launcher),
  the seed axis, the summary when the sweep ends; `objectives`: the metric names it knows;
  `cells`: seed replicates of a cell (mean, sd, t-interval, within noise of the best).
- `search`, `search_pruning`: `bioqwen search`, an asynchronous Optuna search whose workers
  share one journal file, and the Trainer callback that feeds its pruner eval loss.
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
