"""W&B sweep files (sweeps/*.yaml): read, check and expand into Hydra overrides.

A W&B agent runs a sweep file's `command` with the swept values appended by
`${args_no_hyphens}` as `key=value`, which is exactly a Hydra override. So every combination
a file can produce is composed here through the job's real config before a cluster sees it:

    python -m bioqwen.sweeps.wandb_sweeps sweeps/lr_lora_r_grid.yaml
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bioqwen.errors import BioqwenError
from bioqwen.sweeps import SweepError

PROGRAM = "bioqwen"
ARGS = "${args_no_hyphens}"  # W&B's macro for the swept values as key=value


@dataclass(frozen=True)
class SweepFile:
    """A W&B sweep file: the job it runs, its fixed overrides and its swept parameters."""

    path: Path
    method: str
    job: str
    fixed: list[str]
    parameters: dict[str, dict[str, Any]]


def load_sweep_file(path: str | Path) -> SweepFile:
    """Read a sweep file; its command must be `bioqwen <job> <overrides> ${args_no_hyphens}`."""
    from bioqwen.checkout import CONF_DIR

    jobs = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))  # a job's primary config is composed
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    command = [str(c) for c in data.get("command") or []]
    program = str(data.get("program", ""))
    runs = [program if c == "${program}" else c for c in command[:1]]
    if runs != [PROGRAM] or len(command) < 2:
        raise SweepError(f"{path}: command must start with {PROGRAM} <job>, not {command[:2]}")
    if command[1] not in jobs:
        raise SweepError(
            f"{path}: command runs {command[1]!r}, not a bioqwen job ({', '.join(jobs)})"
        )
    if ARGS not in command:
        raise SweepError(f"{path}: command lacks {ARGS}, which hands the swept values to Hydra")
    parameters = data.get("parameters") or {}
    for key, spec in parameters.items():
        if not isinstance(spec, dict) or not ({"values", "value"} & set(spec) or "min" in spec):
            raise SweepError(f"{path}: parameter {key!r} has neither values, value nor min/max")
    fixed = [c for c in command[2:] if c != ARGS]
    return SweepFile(path, str(data.get("method", "")), command[1], fixed, parameters)


def _choices(spec: dict[str, Any]) -> list[Any]:
    if "values" in spec:
        return list(spec["values"])
    if "value" in spec:
        return [spec["value"]]
    return [spec["min"], spec["max"]]  # a distribution: its two ends


def expand(sweep: SweepFile) -> list[list[str]]:
    """Every combination of swept values (a distribution gives its min and max) as overrides."""
    keys = list(sweep.parameters)
    grid = itertools.product(*(_choices(sweep.parameters[k]) for k in keys))
    return [[f"{k}={v}" for k, v in zip(keys, values, strict=True)] for values in grid]


def compose_all(sweep: SweepFile) -> int:
    """Compose the job's config for every combination (a renamed key fails here); the count."""
    from bioqwen.checkout import compose

    combinations = expand(sweep)
    for overrides in combinations:
        try:
            compose(sweep.job, [*sweep.fixed, *overrides], f"{sweep.path}: {' '.join(overrides)}")
        except BioqwenError as err:
            raise SweepError(str(err)) from err
    return len(combinations)


def main(argv: list[str] | None = None) -> None:
    """Check sweep files: `python -m bioqwen.sweeps.wandb_sweeps sweeps/*.yaml`."""
    for name in sys.argv[1:] if argv is None else argv:
        try:
            sweep = load_sweep_file(name)
            print(f"{name}: {compose_all(sweep)} combinations of `bioqwen {sweep.job}` compose")
        except SweepError as err:
            print(f"bioqwen: error: {err}", file=sys.stderr)
            sys.exit(2)


if __name__ == "__main__":
    main()
