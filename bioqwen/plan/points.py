"""The training runs a command would launch, composed but not run.

`bioqwen plan` takes the overrides `bioqwen train -m` takes (or `+experiment=<row>` and
overrides for its train steps, as `pipeline.overrides.train` would apply them) and expands
sweeps exactly as Hydra's basic sweeper does (`BasicSweeper.split_arguments`). Composing a
config costs about half a second here, so each train step is composed once with the overrides
every point shares; a point's own `key.path=value` overrides are then applied as Hydra applies
them after composition (`OmegaConf.update(cfg, key, value, merge=True)`); only a point that
changes a config group (`model=...`) is composed again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bioqwen import experiments
from bioqwen.checkout import compose
from bioqwen.errors import BioqwenError


@dataclass(frozen=True)
class TrainStep:
    """One training run of a point: its label, composed train config and data directory."""

    label: str
    cfg: DictConfig
    data_dir: str | None  # a prepare run dir (an experiment's prepare step), else cfg.data_dir


def expand(overrides: Sequence[str], multirun: bool) -> list[list[str]]:
    """The points of a sweep (one list of overrides each), as `-m` would launch them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps and not multirun:
            raise BioqwenError(
                f"{sweeps[0].input_line}: a sweep needs -m (bioqwen plan -m ...), as for train"
            )
        return [list(point) for point in BasicSweeper.split_arguments(parsed, None)[0]]
    except HydraException as err:
        raise BioqwenError(f"bioqwen plan: {' '.join(str(err).split())}") from err


def shared(points: list[list[str]]) -> list[str]:
    """The overrides every point has."""
    return [o for o in points[0] if all(o in p for p in points[1:])]


def _value_override(override: str) -> tuple[str, object] | None:
    """(key, value) of a plain `a.b=value` change, else None (a group, an addition, a deletion)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    (parsed,) = OverridesParser.create().parse_overrides([override])
    key = parsed.get_key_element()
    if parsed.type != OverrideType.CHANGE or "." not in key or "@" in key or "/" in key:
        return None
    return key, parsed.value()


def apply(cfg: DictConfig, own: Iterable[str]) -> DictConfig | None:
    """A copy of cfg with a point's own value overrides applied as Hydra applies them, or None
    when one of them needs a full composition."""
    changes = [_value_override(o) for o in own]
    if any(c is None for c in changes):
        return None
    from omegaconf.errors import OmegaConfBaseException

    out = copy.deepcopy(cfg)
    for key, value in (c for c in changes if c is not None):
        try:
            OmegaConf.update(out, key, value, merge=True)
        except OmegaConfBaseException as err:
            raise BioqwenError(f"{key}={value}: {' '.join(str(err).split())}") from err
    return out


def train_steps(
    experiment: str | None, overrides: Sequence[str], jobs: Iterable[str]
) -> list[TrainStep]:
    """The train runs of `bioqwen train <overrides>`, or of an experiment whose train steps
    all get `overrides` (its stage-1 experiment's included)."""
    if experiment is None:
        cfg = compose("train", overrides, f"bioqwen plan {' '.join(overrides)}".strip())
        return [TrainStep("train", cfg, cfg.data_dir)]
    names = experiments.available(experiments.EXPERIMENTS)
    if experiment not in names:
        raise BioqwenError(
            f"unknown experiment {experiment!r}: use +experiment=<name>, one of: {', '.join(names)}"
        )
    cfg = compose("pipeline", [f"+experiment={experiment}"], f"experiment {experiment}")
    OmegaConf.update(cfg, "pipeline.overrides.train", list(overrides), merge=False)
    steps, _ = _walk(cfg, list(jobs), ())
    if not steps:
        raise BioqwenError(f"experiment {experiment} has no train step: nothing to plan")
    return steps


def _walk(
    cfg: DictConfig, jobs: list[str], stack: tuple[str, ...]
) -> tuple[list[TrainStep], dict[str, Path]]:
    """The train steps of an experiment and of those it takes inputs from (first), composed as
    the pipeline composes them; and every step's run directory."""
    name = str(cfg.experiment.name)
    if name in stack:
        raise BioqwenError(f"experiment {name} takes inputs from itself: {' -> '.join(stack)}")
    steps = experiments.parse_steps(cfg.pipeline.steps, jobs, f"experiment {name}")
    dirs = {s.name: Path(str(cfg.pipeline.dir)) / s.name for s in steps}
    found: list[TrainStep] = []
    for other in sorted({ref[0] for s in steps for ref in s.external().values()}):
        sub_steps, sub_dirs = _walk(experiments.sub_experiment(cfg, other), jobs, (*stack, name))
        found += sub_steps
        dirs.update({f"{other}:{step}": path for step, path in sub_dirs.items() if ":" not in step})
    for step in steps:
        if step.job != "train":
            continue
        missing = [ref for ref in step.inputs.values() if ref not in dirs]
        if missing:
            raise BioqwenError(f"experiment {name}, step {step.name}: no step {missing[0]!r}")
        inputs = {key: dirs[ref] for key, ref in step.inputs.items()}
        step_cfg = experiments.step_config(cfg, step, inputs)
        data_dir = str(inputs["data_dir"]) if "data_dir" in inputs else step_cfg.data_dir
        found.append(TrainStep(f"{name}:{step.name}", step_cfg, data_dir))
    return found, dirs
