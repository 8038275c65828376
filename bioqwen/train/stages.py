"""Stage lineage: what a run starts from, checked before anything is loaded or written.

A training run records in lineage.json the base its adapter sits on (`adapter_base`), so a
later stage or a merge always applies the adapter to the weights it was trained against.
`plan_init` turns a stage's `init_from`/`init_mode` into the weights to load: the base model
(stage 1), the parent's merged model, the parent's adapter still to merge (`init_model/`), or
the parent's adapter to keep training (`continue`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.models import check_weight_files
from bioqwen.runs import ADAPTER_DIR, LINEAGE_FILE, MERGED_DIR, read_json

INIT_MODEL = "init_model"  # where a parent adapter is merged into its base before stage 2


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
    adapter = directory / ADAPTER_DIR
    merged = directory / MERGED_DIR
    has_adapter = (adapter / "adapter_config.json").exists()
    has_merged = (merged / "config.json").exists()
    if not (has_adapter or has_merged):
        raise BioqwenError(
            f"stage.init_from={directory}: neither {ADAPTER_DIR}/adapter_config.json nor "
            f"{MERGED_DIR}/config.json (did the run finish?)"
        )
    for weights in (adapter, merged):
        if weights.is_dir():  # a torn or emptied stage-1 model stops here, not in the load
            check_weight_files(weights)
    return ParentRun(
        dir=directory.resolve(),
        model_name=parent_model,
        adapter_base=str(lineage["adapter_base"]),
        adapter_dir=adapter.resolve() if has_adapter else None,
        merged_dir=merged.resolve() if has_merged else None,
        lineage=lineage,
    )


@dataclass(frozen=True)
class InitPlan:
    """The weights a stage starts from, decided before anything is loaded."""

    parent: ParentRun | None
    base_source: str  # what the run loads (and records as its adapter base)
    tokenizer_source: str  # where the tokenizer is read (init_model/ does not exist yet)
    continue_adapter: Path | None  # init_mode=continue: the parent adapter that keeps training
    pending_merge: Path | None  # init_mode=merge without a merged parent: fold this adapter first


def plan_init(
    stage: dict[str, Any], method: dict[str, Any], model_name: str, model_source: str, run: Path
) -> InitPlan:
    """Resolve stage.init_from / stage.init_mode into an InitPlan for run directory `run`."""
    continuing = stage["init_mode"] == "continue"
    if continuing and not method["lora"]:
        raise BioqwenError(
            f"stage.init_mode=continue needs an adapter method, not method={method['name']}"
        )
    if not (stage["requires_init"] or stage["init_from"]):
        return InitPlan(None, model_source, model_source, None, None)
    parent = read_parent(stage["init_from"], model_name, str(stage["name"]))
    if continuing:
        if parent.adapter_dir is None:
            raise BioqwenError(f"stage.init_mode=continue: {parent.dir} has no adapter to continue")
        return InitPlan(parent, parent.adapter_base, parent.adapter_base, parent.adapter_dir, None)
    if parent.merged_dir is not None:
        merged = str(parent.merged_dir)
        return InitPlan(parent, merged, merged, None, None)
    # The merged stage-1 model does not exist yet; its base carries the same tokenizer.
    return InitPlan(parent, str(run / INIT_MODEL), parent.adapter_base, None, parent.adapter_dir)


def stage_inputs(plan: InitPlan, model: Mapping[str, Any], source: str) -> list[dict[str, str]]:
    """The W&B inputs of a run (bioqwen.artifacts): the base model for a first stage, else the
    parent's artifact that this run starts from (its merged model when it loads that, else its
    adapter); none when the parent was not tracked."""
    from bioqwen.artifacts import base_model_input, parent_input

    if plan.parent is None:
        return [base_model_input(str(model["name"]), source, model.get("revision"))]
    uses_merged = plan.continue_adapter is None and plan.pending_merge is None
    return parent_input(
        plan.parent.lineage, MERGED_DIR if uses_merged else ADAPTER_DIR, ADAPTER_DIR
    )
