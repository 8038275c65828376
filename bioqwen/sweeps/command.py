"""`bioqwen sweep status|summarize <sweep dir>`: a sweep read back from its directory and SLURM.

A user can submit a SLURM sweep (`hydra.launcher.wait_min=0` returns right after submission),
log out, and later ask how it stands (`status`) or write its summary, heatmap and W&B summary
run (`summarize`, what the sweep's own command does when it waits to the end). The points'
states come from each run directory's slurm.json, refreshed from sacct or squeue.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.runs import atomic_write_json, read_json
from bioqwen.sweeps import cluster
from bioqwen.sweeps.launcher import forgotten_state
from bioqwen.sweeps.point import CALLBACK_KEY, SLURM_FILE, sweep_settings

USAGE = "usage: bioqwen sweep status|summarize <sweep dir>"
MULTIRUN_FILE = "multirun.yaml"  # Hydra's composed config of the sweep, in its directory


def refresh(sweep_dir: Path) -> None:
    """Bring every point's slurm.json up to the cluster's current word on its job."""
    records = {p: read_json(p) for p in sweep_dir.glob(f"*/{SLURM_FILE}")}
    open_records = {p: r for p, r in records.items() if not cluster.ended(str(r["state"]))}
    if not open_records or not cluster.available():
        return
    states = cluster.job_states(str(r["job_id"]) for r in open_records.values())
    for path, record in open_records.items():
        state = states.get(str(record["job_id"]))
        if state is None:  # the cluster forgot it (ended longer ago than squeue remembers)
            state = forgotten_state(str(record["state"]), Path(str(record.get("result", ""))))
        if state != record["state"]:
            started = record.get("started") or (time.time() if state == "RUNNING" else None)
            atomic_write_json(path, {**record, "state": state, "started": started})


def _sweep_config(sweep_dir: Path) -> DictConfig:
    path = sweep_dir / MULTIRUN_FILE
    config = OmegaConf.load(path) if path.is_file() else OmegaConf.create()
    assert isinstance(config, DictConfig)  # Hydra saves the composed mapping
    return config


def status(sweep_dir: Path) -> list[str]:
    """One line per point: number, swept values, SLURM job id and state, status."""
    from bioqwen.sweeps.summary import read_sweep

    refresh(sweep_dir)
    points = read_sweep(sweep_dir)
    if not points:
        raise BioqwenError(f"{sweep_dir}: no sweep points (no */.hydra/overrides.yaml)")
    lines = [f"{'point':>5}  {'job id':<12} {'SLURM state':<12} {'status':<10} values"]
    for p in points:
        state, job = p.slurm_state or "-", p.job_id or "-"
        lines.append(f"{p.dir.name:>5}  {job:<12} {state:<12} {p.status:<10} {p.label}")
    ended = sum(cluster.ended(p.slurm_state) or not p.job_id for p in points)
    lines.append(f"{ended} of {len(points)} points ended")
    return lines


def summarize(sweep_dir: Path) -> list[str]:
    """Write the summary files (and the W&B summary run) as the sweep's end would."""
    from bioqwen.sweeps.summary import log_to_wandb, render_sweep

    refresh(sweep_dir)
    config = _sweep_config(sweep_dir)
    settings = sweep_settings(OmegaConf.select(config, f"hydra.callbacks.{CALLBACK_KEY}"))
    try:
        files = render_sweep(sweep_dir, settings, OmegaConf.select(config, "tracking.group"))
    except FileNotFoundError as err:
        raise BioqwenError(str(err)) from err
    if "tracking" in config:
        tracking_cfg: dict[str, Any] = OmegaConf.to_container(config.tracking, resolve=True)  # type: ignore[assignment]
        log_to_wandb(tracking_cfg, files, sweep_dir)
    return [str(files.markdown), str(files.csv), str(files.heatmap), str(files.curves)]


def main(argv: list[str] | None = None) -> None:
    """Entry point of `bioqwen sweep`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("status", "summarize"):
        print(f"bioqwen: error: {USAGE}", file=sys.stderr)
        sys.exit(2)
    action, sweep_dir = args[0], Path(args[1])
    try:
        if not sweep_dir.is_dir():
            raise BioqwenError(f"{sweep_dir}: no such sweep directory")
        lines = status(sweep_dir) if action == "status" else summarize(sweep_dir)
    except BioqwenError as err:
        print(f"bioqwen: error: {err}", file=sys.stderr)
        sys.exit(2)
    print("\n".join(lines))
