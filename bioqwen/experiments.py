"""Experiments: the step list of `bioqwen pipeline`, what a step's inputs hash to, and the
experiment.json ledger that decides whether a step runs, resumes or is skipped.

An experiment (conf/experiment/, `# @package _global_`) carries an `experiment:` block (name,
table, row, tags) and `pipeline.steps`, each a job name with overrides and `inputs` naming the
upstream steps whose run directories it takes. A step's input hash covers its resolved config
(without the keys that only label it: experiment, tracking, resume, wait) and the outputs of its
upstream steps (their metrics.json and lineage.json), so a change anywhere upstream reruns it.
`plan` composes every step's config with Hydra's compose API before anything runs, so a
misspelled key stops an experiment with nothing written (in the experiment file itself, the
pipeline's schema, bioqwen.config.PipelineJobConfig, names it at composition). Imports only
leaf modules.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from bioqwen.checkout import CONF_DIR, compose, plain
from bioqwen.errors import BioqwenError
from bioqwen.runs import LINEAGE_FILE, METRICS_FILE, atomic_write_json, read_json, stable_hash

EXPERIMENTS = CONF_DIR / "experiment"
RECORD_FILE = "experiment.json"
# What the pipeline says (and counts) per step action.
SAY = {
    "skip": "skipped, config and upstream outputs unchanged",
    "resume": "resuming the interrupted run from its newest checkpoint",
    "rerun": "rerunning (config or upstream changed, or the last attempt failed)",
    "run": "running",
}
# Keys that name or track a step, or make it wait for its lock, without changing what it computes.
LABEL_KEYS = ("experiment", "tracking", "resume", "wait")
STEP_KEYS = {"name", "job", "overrides", "inputs"}
# Step and experiment names become directory names: plain ones only (never `.` or `..`).
NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Step:
    """One step: a job run with overrides, taking upstream run directories as config keys."""

    name: str
    job: str
    overrides: tuple[str, ...] = ()
    # config key -> "<step>" of this experiment or "<experiment>:<step>" of another one
    inputs: Mapping[str, str] = field(default_factory=dict)

    def external(self) -> dict[str, tuple[str, str]]:
        """Inputs from other experiments: config key -> (experiment, step)."""
        out = {}
        for key, ref in self.inputs.items():
            experiment, sep, step = ref.rpartition(":")
            if sep:
                out[key] = (experiment, step)
        return out


def check_name(name: str, what: str) -> None:
    """Reject a step or experiment name that is not a plain directory name."""
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise BioqwenError(
            f"{what} {name!r}: use letters, digits, '_', '.' and '-' only (not '.' or '..'): "
            "it names a directory"
        )


def parse_steps(spec: Iterable[Mapping[str, Any]], jobs: Iterable[str], where: str) -> list[Step]:
    """Validate pipeline.steps: known jobs and fields, unique names, inputs from earlier steps."""
    known_jobs, steps, seen = set(jobs), [], set()
    for index, item in enumerate(spec):
        label = f"{where}: pipeline.steps[{index}]"
        unknown = sorted(set(item) - STEP_KEYS)
        if unknown or "name" not in item or "job" not in item:
            raise BioqwenError(
                f"{label}: needs name and job, may have overrides and inputs ({unknown})"
            )
        step = Step(
            name=str(item["name"]),
            job=str(item["job"]),
            overrides=tuple(str(o) for o in item.get("overrides") or ()),
            inputs={str(k): str(v) for k, v in (item.get("inputs") or {}).items()},
        )
        if step.job not in known_jobs:
            raise BioqwenError(f"{label}: unknown job {step.job!r} (jobs: {sorted(known_jobs)})")
        check_name(step.name, f"{label}: step name")
        if step.name in seen:
            raise BioqwenError(f"{label}: step name {step.name!r} is repeated")
        local = {k: v for k, v in step.inputs.items() if k not in step.external()}
        for key, ref in local.items():
            if ref not in seen:
                raise BioqwenError(f"{label}: input {key}={ref!r} names no earlier step")
        seen.add(step.name)
        steps.append(step)
    if not steps:
        raise BioqwenError(f"{where}: pipeline.steps is empty")
    return steps


def available(experiment_dir: Path) -> list[str]:
    """Experiment configs usable with `bioqwen pipeline` (those with an `experiment:` block)."""
    names = []
    for path in sorted(experiment_dir.rglob("*.yaml")):
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise BioqwenError(f"{path}: malformed YAML: {' '.join(str(err).split())}") from err
        if isinstance(loaded, dict) and "experiment" in loaded:
            names.append(path.relative_to(experiment_dir).with_suffix("").as_posix())
    return names


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash of a step's resolved config without the keys that only label it."""
    return stable_hash({k: v for k, v in config.items() if k not in LABEL_KEYS})


def output_hash(run_dir: Path) -> str:
    """Hash of what a finished step produced, as downstream steps see it."""
    return stable_hash(
        {
            name: read_json(run_dir / name)
            for name in (METRICS_FILE, LINEAGE_FILE)
            if (run_dir / name).exists()
        }
    )


def read_record(path: Path) -> dict[str, dict[str, Any]]:
    """The steps of an experiment.json, or a BioqwenError naming the file if it is torn (a
    copy cut short, an edit) or not shaped as the pipeline writes it."""
    fix = "; fix it or delete it (every step then runs again)"
    try:
        record = read_json(path)
    except UnicodeDecodeError as err:
        raise BioqwenError(f"{path}: not UTF-8 text ({err.reason}){fix}") from err
    except ValueError as err:  # read_json names the file and line
        raise BioqwenError(f"{err}{fix}") from err
    except RecursionError as err:
        raise BioqwenError(f"{path}: nested too deeply to read{fix}") from err
    steps = record.get("steps", {}) if isinstance(record, dict) else None
    if not isinstance(steps, dict) or not all(isinstance(v, dict) for v in steps.values()):
        shape = '{"experiment": {...}, "steps": {"<step>": {...}}}'
        raise BioqwenError(f"{path}: not an experiment record (expected {shape}){fix}")
    return steps


class Ledger:
    """experiment.json: every step's status, input hashes and run directory."""

    def __init__(self, directory: Path, experiment: Mapping[str, Any], steps: list[str]) -> None:
        self.path = Path(directory) / RECORD_FILE
        previous = read_record(self.path) if self.path.exists() else {}
        # In the experiment's order; steps it no longer lists are dropped from the record.
        self.steps: dict[str, dict[str, Any]] = {
            s: previous.get(s, {"status": "pending"}) for s in steps
        }
        self.experiment = dict(experiment)

    def plan(self, step: Step, digest: str, run_dir: Path, resumable: bool) -> str:
        """What to do with a step: skip (done, same inputs), resume, rerun (changed or failed
        without a checkpoint; the old run directory is replaced) or run (never started)."""
        entry = self.steps.get(step.name, {})
        same = entry.get("hash") == digest
        if same and entry.get("status") == "done" and (run_dir / METRICS_FILE).exists():
            return "skip"
        if same and resumable:
            return "resume"
        return "rerun" if run_dir.exists() else "run"

    def update(self, step: Step, **fields: Any) -> None:
        """Record fields of a step (status, hash, inputs, run_dir, error) and save at once."""
        entry = self.steps.setdefault(step.name, {})
        entry.update(fields, job=step.job, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.save()

    def save(self) -> None:
        """Write experiment.json atomically."""
        atomic_write_json(self.path, {"experiment": self.experiment, "steps": self.steps})


# ---------------------------------------------------------------------------------------------
# Composing the steps


def step_config(
    cfg: DictConfig, step: Step, inputs: Mapping[str, Path], extra: tuple[str, ...] = ()
) -> DictConfig:
    """Compose one step's config and label it with the experiment (block, W&B group and tags)."""
    name = str(cfg.experiment.name)
    overrides = [
        *cfg.pipeline.common.get(step.job, []),
        *step.overrides,
        *(f"{key}='{path}'" for key, path in inputs.items()),
        *cfg.pipeline.overrides.get(step.job, []),
        *extra,
    ]
    step_cfg = compose(step.job, overrides, f"experiment {name}, step {step.name}")
    with open_dict(step_cfg):
        step_cfg.experiment = {**plain(cfg.experiment), "step": step.name}
        tags = [*cfg.tracking.tags, *cfg.experiment.tags, f"step:{step.name}"]
        labels = {"group": name, "tags": tags}
        step_cfg.tracking = OmegaConf.merge(step_cfg.tracking, plain(cfg.tracking), labels)
    return step_cfg


def sub_experiment(cfg: DictConfig, name: str) -> DictConfig:
    """Another experiment's config, sharing this run's root, data, extra overrides and tracking."""
    if name not in available(EXPERIMENTS):
        raise BioqwenError(
            f"experiment {cfg.experiment.name}: no experiment {name!r} to take inputs from"
        )
    sub = compose("pipeline", [f"+experiment={name}"], f"experiment {name}")
    for key in (
        "pipeline.root",
        "pipeline.data_root",
        "pipeline.overrides",
        "pipeline.wait",
        "tracking",
    ):
        OmegaConf.update(sub, key, OmegaConf.select(cfg, key), merge=False)
    return sub


@dataclass
class Plan:
    """An experiment's steps with their run directories and composed configs, nothing run yet."""

    cfg: DictConfig
    steps: list[Step]
    dirs: dict[str, Path]  # "<step>" and "<experiment>:<step>" -> run directory
    configs: dict[str, DictConfig]
    subs: list[Plan]  # the experiments this one takes inputs from, planned the same way

    def inputs(self, step: Step) -> dict[str, Path]:
        """The run directories a step takes, by config key."""
        return {key: self.dirs[ref] for key, ref in step.inputs.items()}


def plan(cfg: DictConfig, jobs: Iterable[str], stack: tuple[str, ...] = ()) -> Plan:
    """Validate an experiment (and those it takes inputs from) and compose every step's config."""
    name = str(cfg.experiment.name)
    if name in stack:
        raise BioqwenError(f"experiment {name} takes inputs from itself: {' -> '.join(stack)}")
    check_name(name, "experiment.name")
    steps = parse_steps(cfg.pipeline.steps, jobs, f"experiment {name}")
    others = sorted({ref[0] for s in steps for ref in s.external().values()})
    subs = [plan(sub_experiment(cfg, other), jobs, (*stack, name)) for other in others]
    dirs = {s.name: Path(str(cfg.pipeline.dir)) / s.name for s in steps}
    for other, sub in zip(others, subs, strict=True):
        dirs.update({f"{other}:{s.name}": sub.dirs[s.name] for s in sub.steps})
    todo = Plan(cfg, steps, dirs, {}, subs)
    for step in steps:
        missing = [ref for ref in step.inputs.values() if ref not in dirs]
        if missing:
            raise BioqwenError(f"experiment {name}, step {step.name}: no step {missing[0]!r}")
        todo.configs[step.name] = step_config(cfg, step, todo.inputs(step))
    return todo


def check_command_line(argv: list[str]) -> None:
    """Name a missing or unknown experiment (listing the known ones); reject bad overrides."""
    names = available(EXPERIMENTS)
    chosen = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("experiment=")]
    if not chosen or chosen[-1] not in names:
        given = f"unknown experiment {chosen[-1]!r}" if chosen else "no experiment given"
        raise BioqwenError(f"{given}: use +experiment=<name>, one of: {', '.join(names)}")
    compose(
        "pipeline",
        [a for a in argv if not a.lstrip("+~").startswith(("hydra.", "-"))],
        "bioqwen pipeline",
    )
