"""W&B model artifacts of bioqwen runs and the lineage links between them.

A trained adapter, a merged model or an exported file set becomes a W&B artifact *by
reference* (the weights stay in the run directory; W&B keeps their checksums), aliased with
the W&B run id that made it, so a later run names exactly that version: `<name>:run-<id>`.

A run declares what it started from (the base model for stage 1, stage 1's artifact for
stage 2) as its inputs, which draws base -> stage 1 -> stage 2 in W&B's lineage graph. W&B
can only record an input while online (offline, `use_artifact` is refused), so every run
writes its inputs into lineage.json; online they are linked at once, and for runs made
offline `link_after_sync` links them once `wandb sync` has uploaded the runs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.runs import ADAPTER_DIR, LINEAGE_FILE, MERGED_DIR, read_json, write_lineage
from bioqwen.tracking import Tracker

log = logging.getLogger("bioqwen")

HF_HUB = "https://huggingface.co"
MODEL_ARTIFACT = "model"  # the W&B type of a complete model: a merged run model or an export
# The W&B type of each part of a training run (its folder name, bioqwen.runs): an adapter is
# typed by its folder's name.
ARTIFACT_TYPES = {ADAPTER_DIR: ADAPTER_DIR, MERGED_DIR: MODEL_ARTIFACT}


def artifact_name(label: str) -> str:
    """A W&B artifact name from a run label (letters, digits, '-', '_' and '.' only)."""
    return re.sub(r"[^\w.-]", "-", label)


def log_model(
    tracker: Tracker,
    name: str,
    kind: str,
    paths: Mapping[str, Path],
    metadata: Mapping[str, Any],
) -> str | None:
    """Log files or directories (entry name -> path) as one artifact by reference; returns
    the reference a later run uses (`<name>:run-<run id>`), or None when tracking is off."""
    run = tracker.run
    if run is None:
        return None
    import wandb

    name = artifact_name(name)
    alias = f"run-{run.id}"
    artifact = wandb.Artifact(name, type=kind, metadata=dict(metadata))
    for entry, path in paths.items():
        artifact.add_reference(f"file://{Path(path).resolve()}", name=entry)
    run.log_artifact(artifact, aliases=["latest", alias])
    return f"{name}:{alias}"


def base_model_input(name: str, source: str, revision: str | None) -> dict[str, str]:
    """The input artifact of a stage-1 run: its base model, referenced where it lives (a hub
    revision or a local directory) without reading the weights."""
    if Path(source).exists():
        uri = f"file://{Path(source).resolve()}"
    else:
        uri = f"{HF_HUB}/{source}/tree/{revision or 'main'}"
    return {"name": artifact_name(f"base-{name}"), "type": "base-model", "uri": uri}


def parent_input(lineage: Mapping[str, Any], *parts: str) -> list[dict[str, str]]:
    """The input naming a parent run's artifact: the first of `parts` (ADAPTER_DIR,
    MERGED_DIR) its lineage.json lists as logged; none when the parent was not tracked."""
    logged = (lineage.get("wandb") or {}).get("artifacts") or {}
    refs = [logged[part] for part in parts if logged.get(part)]
    return [{"ref": refs[0]}] if refs else []


def _use(run: Any, spec: Mapping[str, str]) -> None:
    """Declare one input on a live W&B run: an artifact reference, or a base-model URI."""
    if "ref" in spec:
        run.use_artifact(spec["ref"])
        return
    import wandb

    draft = wandb.Artifact(spec["name"], type=spec["type"])
    # checksum=False: the digest is the URI (hub revision or path), so nothing is downloaded
    # or hashed, and another revision is another version.
    draft.add_reference(spec["uri"], name=spec["name"], checksum=False)
    run.use_artifact(draft)


def declare_inputs(tracker: Tracker, inputs: Sequence[Mapping[str, str]]) -> bool:
    """Link a run's inputs now if it is online; False when they wait for `link_after_sync`
    (offline, or an input not on the server yet, e.g. a parent run never synced)."""
    if tracker.run is None or tracker.offline or not inputs:
        return False
    try:
        for spec in inputs:
            _use(tracker.run, spec)
    except Exception as err:  # wandb raises CommError, ValueError, TypeError...
        log.warning(
            "W&B inputs not linked yet (%s): `wandb sync` the parent runs, then "
            "`python -m bioqwen.artifacts <this run dir>`",
            err,
        )
        return False
    return True


def wandb_entry(
    tracker: Tracker,
    inputs: Sequence[Mapping[str, str]],
    linked: bool,
    outputs: Mapping[str, str] | None = None,
) -> Any:
    """lineage.json's `wandb` entry: the run's path, its inputs (and whether they are linked)
    and the artifacts it logged."""
    run = tracker.run
    if run is None:
        return None
    return {
        "run_id": run.id,
        "project": run.project,
        "entity": run.entity or None,
        "inputs": list(inputs),
        "linked": linked,
        "artifacts": dict(outputs or {}),
    }


def link_after_sync(run_dirs: Sequence[Path], init: Any = None) -> list[Path]:
    """For runs made offline and uploaded with `wandb sync`: reopen each W&B run and declare
    the inputs its lineage.json lists; returns the run directories linked now.

    Parents first (stage 1 before stage 2) is not required: every input is a reference
    resolved by the server. `init` is wandb.init (a test passes a stand-in).
    """
    import wandb

    init = init or wandb.init
    linked = []
    for directory in run_dirs:
        path = Path(directory) / LINEAGE_FILE
        if not path.is_file():
            raise BioqwenError(f"{directory}: no {LINEAGE_FILE} (not a bioqwen run directory)")
        entry = read_json(path).get("wandb")
        if not entry or entry.get("linked") or not entry.get("inputs"):
            continue
        try:
            with init(
                id=entry["run_id"],
                project=entry["project"],
                entity=entry["entity"],
                resume="must",
                mode="online",
            ) as run:
                for spec in entry["inputs"]:
                    _use(run, spec)
        except wandb.errors.Error as err:  # no API key, run or artifact not synced yet, ...
            raise BioqwenError(
                f"{directory}: W&B run {entry['run_id']} not linked: {err} "
                "(`wandb login`, then `wandb sync` the run and its parents first)"
            ) from err
        write_lineage(directory, wandb={**entry, "linked": True})
        linked.append(Path(directory))
    return linked


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bioqwen.artifacts <run dir>...`: link synced offline runs' inputs."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m bioqwen.artifacts <run dir>...  (after `wandb sync`)")
        sys.exit(0 if args else 2)
    try:
        done = link_after_sync([Path(a) for a in args])
    except BioqwenError as err:
        print(f"bioqwen: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"linked the inputs of {len(done)} run(s): {', '.join(map(str, done)) or '-'}")


if __name__ == "__main__":
    main()
