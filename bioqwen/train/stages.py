"""Stage lineage: what a run starts from, checked before anything is loaded or written.

A training run records in lineage.json the base its adapter sits on (`adapter_base`), so a
later stage or a merge always applies the adapter to the weights it was trained against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.runs import LINEAGE_FILE, read_json
from bioqwen.train.merge import ADAPTER, MERGED


@dataclass(frozen=True)
class ParentRun:
    """A finished earlier-stage run that a new stage starts from."""

    dir: Path
    model_name: str
    adapter_base: str  # the weights its adapter was trained on (hub id or directory)
    adapter_dir: Path | None  # None for full fine-tuning
    merged_dir: Path | None  # its merged model, if it wrote one
    lineage: dict[str, Any]


def read_parent(init_from: str | None, model_name: str, stage_name: str) -> ParentRun:
    """Validate a stage-1 run directory for stage 2 and describe what it offers."""
    if not init_from:
        raise BioqwenError(
            f"stage={stage_name} needs stage.init_from=<run dir of the previous stage>"
        )
    directory = Path(init_from)
    if not directory.is_dir():
        raise BioqwenError(f"stage.init_from={directory}: no such directory")
    lineage_path = directory / LINEAGE_FILE
    if not lineage_path.exists():
        raise BioqwenError(
            f"stage.init_from={directory}: no {LINEAGE_FILE} (not a finished train run)"
        )
    try:
        lineage = read_json(lineage_path)
    except ValueError as err:
        raise BioqwenError(str(err)) from err
    if lineage.get("job") != "train" or "adapter_base" not in lineage:
        raise BioqwenError(f"stage.init_from={directory}: {LINEAGE_FILE} is not a train run's")
    parent_model = (lineage.get("model") or {}).get("name")
    if parent_model != model_name:
        raise BioqwenError(
            f"stage.init_from={directory} trained model {parent_model!r}, "
            f"but this run is model={model_name}"
        )
    adapter = directory / ADAPTER
    merged = directory / MERGED
    has_adapter = (adapter / "adapter_config.json").exists()
    has_merged = (merged / "config.json").exists()
    if not (has_adapter or has_merged):
        raise BioqwenError(
            f"stage.init_from={directory}: neither {ADAPTER}/adapter_config.json nor "
            f"{MERGED}/config.json (did the run finish?)"
        )
    return ParentRun(
        dir=directory.resolve(),
        model_name=parent_model,
        adapter_base=str(lineage["adapter_base"]),
        adapter_dir=adapter.resolve() if has_adapter else None,
        merged_dir=merged.resolve() if has_merged else None,
        lineage=lineage,
    )
