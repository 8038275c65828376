"""Sweeps: what a Hydra multirun adds to a job, and what is left of a sweep once it ends.

- `point`: one point of a multirun (W&B group and tags, status file, objective, surviving a
  failure); `jobs/common.py` calls it.
- `summary`: the Hydra callback that writes sweep_summary.md/.csv, the heatmap and the loss
  curves into the sweep directory (`render_sweep` does the same for any sweep directory).
- `plugins`: the Hydra SLURM launcher and Optuna sweeper with bioqwen's checks up front.
- `wandb_sweeps`: reading and expanding the W&B sweep files in sweeps/.
"""

from hydra.errors import CompactHydraException

from bioqwen.errors import BioqwenError


class SweepError(BioqwenError, CompactHydraException):
    """A mistake in a sweep's setup: Hydra prints it as one line (no traceback)."""
