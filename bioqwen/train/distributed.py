"""Process bookkeeping under `accelerate launch`/`torchrun`: every process runs the train job.

Rank 0's run directory is shared by all processes, and only rank 0 writes artefacts or talks
to W&B; a single process is the one-process case of the same code.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def process_state() -> Any:
    """Accelerate's process state, set up as the Trainer will (gloo on CPU, nccl on CUDA)."""
    import torch
    from accelerate import PartialState

    # Without cpu=True accelerate does not treat torchrun's CPU processes as distributed.
    return PartialState(cpu=not torch.cuda.is_available())


def shared_run_dir(local: Path) -> Path:
    """Rank 0's run directory for every process (Hydra's timestamps differ per process)."""
    import torch.distributed as dist

    state = process_state()
    if state.num_processes == 1:
        return local
    holder = [str(local)]
    dist.broadcast_object_list(holder, src=0)
    shared = Path(holder[0])
    if shared.resolve() != local.resolve():
        # This process's own Hydra directory holds only its .hydra/ and log: drop it.
        leftovers = [p for p in local.iterdir() if p.name != ".hydra" and p.suffix != ".log"]
        if not leftovers:
            shutil.rmtree(local, ignore_errors=True)
    return shared
