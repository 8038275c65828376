"""Resuming a run: the same experiment or nothing.

A resume continues the optimizer state, schedule and data order of the checkpoint, so every
setting that shapes them must be the original's. Only resume-neutral keys may differ: where
logs and caches go, whether W&B is on, whether to wait for the run directory's lock. The
original config.yaml is kept as it was; the resumed invocation's config is saved beside it.

The Trainer writes checkpoint-N in place, file by file, so a kill or a full disk mid-save
leaves a directory that looks like a checkpoint. BioqwenTrainer marks each checkpoint complete
(COMPLETE, written after everything else); a resume takes the newest marked one and names
every unmarked one it skips. (The Trainer itself would resume from an unmarked one without a
word: with no trainer_state.json it restarts at step 0 on the half-saved weights.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.runs import atomic_write_json, atomic_write_text

log = logging.getLogger("bioqwen.train")

CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
# Written into checkpoint-N after the Trainer has saved all of it.
COMPLETE = "checkpoint-complete.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
# Keys (dotted, or a dotted prefix ending in ".") a resumed run may change.
NEUTRAL = ("resume", "wait", "tracking.", "data.cache_dir", "data.num_proc")


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as {dotted.key: leaf value}."""
    if not isinstance(node, dict) or not node:
        return {prefix.rstrip("."): node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def config_changes(original: dict[str, Any], resumed: dict[str, Any]) -> list[str]:
    """`key: old -> new` for every non-neutral setting that differs between two configs."""
    before, after = flatten(original), flatten(resumed)
    missing = object()
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if key.startswith(NEUTRAL):
            continue
        old, new = before.get(key, missing), after.get(key, missing)
        if old != new:
            shown = ["(absent)" if v is missing else repr(v) for v in (old, new)]
            changes.append(f"{key}: {shown[0]} -> {shown[1]}")
    return changes


def mark_complete(folder: Path, step: int) -> None:
    """Record that checkpoint `folder` (of optimizer step `step`) is saved in full."""
    atomic_write_json(folder / COMPLETE, {"step": step})


def checkpoints(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """A run's complete and incomplete checkpoint-N directories, each oldest first."""
    folder = Path(run_dir) / CHECKPOINTS
    found = sorted(
        (int(m.group(1)), p)
        for p in (folder.iterdir() if folder.is_dir() else ())
        if (m := _CHECKPOINT.fullmatch(p.name)) and p.is_dir()
    )
    complete = [p for _, p in found if (p / COMPLETE).is_file()]
    return complete, [p for _, p in found if not (p / COMPLETE).is_file()]


def newest_checkpoint(run_dir: str | Path) -> str:
    """The newest complete checkpoint-N of a run (warning about each incomplete one skipped),
    or a BioqwenError naming the directory searched."""
    complete, incomplete = checkpoints(Path(run_dir))
    for skipped in incomplete:
        log.warning(
            "resume: skipping %s: an incomplete checkpoint (its save was killed or failed)",
            skipped,
        )
    if not complete:
        also = f" is complete ({len(incomplete)} incomplete skipped)" if incomplete else ""
        raise BioqwenError(
            f"resume=true: no checkpoint-* under {Path(run_dir) / CHECKPOINTS}{also}"
        )
    return str(complete[-1])


def check_resume_config(directory: Path, cfg: DictConfig) -> str | None:
    """The original config.yaml text of a run being resumed, after checking that `cfg` changes
    nothing but neutral keys (else a BioqwenError listing the differences)."""
    path = directory / CONFIG
    if not path.is_file():
        return None
    try:
        original_text = path.read_text(encoding="utf-8")
        original = yaml.safe_load(original_text)
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        detail = " ".join(str(err).split())
        raise BioqwenError(f"{path}: unreadable saved config ({detail}); cannot resume") from err
    if not isinstance(original, dict):
        raise BioqwenError(f"{path}: not a saved config (expected a mapping); cannot resume")
    # enum_to_str: an enum setting compares and shows as the string config.yaml holds.
    resumed: dict[str, Any] = OmegaConf.to_container(  # type: ignore[assignment]
        cfg, resolve=True, enum_to_str=True
    )
    changes = config_changes(original, resumed)
    if changes:
        raise BioqwenError(
            f"resume=true: the settings differ from {path} (resume only continues the same run): "
            + "; ".join(changes)
        )
    return original_text


def keep_original_config(directory: Path, original_text: str) -> Path:
    """Put the original config.yaml back and save the resumed invocation's as config.resume-N."""
    current = (directory / CONFIG).read_text(encoding="utf-8")
    n = 1
    while (directory / f"config.resume-{n}.yaml").exists():
        n += 1
    target = directory / f"config.resume-{n}.yaml"
    atomic_write_text(target, current)
    atomic_write_text(directory / CONFIG, original_text)
    return target


def resume_point(directory: Path, cfg: DictConfig) -> tuple[str | None, str | None]:
    """For resume=true: the newest checkpoint and the original config.yaml text (checked
    against `cfg`); (None, None) for a fresh run."""
    if not cfg.resume:
        return None, None
    checkpoint = newest_checkpoint(directory)
    return checkpoint, check_resume_config(directory, cfg)
