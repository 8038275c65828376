"""Run directories (or W&B runs) as records the report can place in the paper's tables.

A run directory's contract is its files: config.yaml (the resolved job config), metrics.json,
lineage.json, and for prepare runs data_card.json. A directory that cannot be read is never
fatal: it becomes a `Skipped` entry with its reason. Which table row a run belongs to comes
from, in order: the config's `experiment: {name, table, row, tags}` block, `row:`/`table:`
tags (W&B tags or tracking.tags), or the model name and training stage (an evaluation of a
trained model follows lineage.json to its training run).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bioqwen.report import authors
from bioqwen.runs import RUN_MODEL_DIRS, read_json

# Directories inside a run that hold artefacts, never runs of their own.
_NOT_RUNS = {"wandb", "checkpoints", *RUN_MODEL_DIRS, "tables", "figures"}
# Config sections the report reads into: each must be a mapping when present.
_SECTIONS = ("tracking", "model", "stage", "benchmark", "bootstrap")


@dataclass
class Skipped:
    """A run (or authors' file) the report could not use, and why."""

    path: str
    reason: str


@dataclass
class Identity:
    """Which model a run measured: its paper-style label, training stage, INT4, explicit rows."""

    model: str
    stage: str | None = None
    int4: bool = False
    rows: dict[str, str] = field(default_factory=dict)  # table name (or "*") -> row label
    quantization: str | None = None  # a non-INT4 quantized evaluation (gguf-f16, gguf-q8_0)


@dataclass
class RunRecord:
    """One readable run: what it is, what it measured, where it came from."""

    path: str
    job: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    data_card: dict[str, Any] | None = None
    parent_config: dict[str, Any] | None = None  # the training run an evaluation loaded
    history: list[dict[str, Any]] | None = None
    mtime: float = 0.0

    @property
    def benchmark(self) -> str | None:
        """The benchmark an evaluate/score run measured."""
        bench = self.config.get("benchmark")
        return str(bench.get("name")) if isinstance(bench, Mapping) else None

    def all_tags(self) -> list[str]:
        """W&B tags, tracking.tags and experiment.tags together."""
        tracking = self.config.get("tracking") or {}
        experiment = experiment_block(self.config)
        return [*self.tags, *(tracking.get("tags") or []), *(experiment.get("tags") or [])]


def experiment_block(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config's `experiment` block ({name, table, row, tags}); a bare name is {name}."""
    block = config.get("experiment")
    if isinstance(block, Mapping):
        return dict(block)
    return {"name": str(block)} if block else {}


def _table_key(value: Any) -> str:
    """`3`, `table:3`, `table3` -> `table3`; other names as given."""
    text = str(value).removeprefix("table:")
    return f"table{text}" if text.isdigit() else text


def explicit_rows(record: RunRecord) -> dict[str, str]:
    """Rows named by the experiment block or by `row:`/`table:` tags."""
    experiment = experiment_block(record.config)
    if experiment.get("row"):
        table = experiment.get("table")
        return {_table_key(table) if table is not None else "*": str(experiment["row"])}
    tags = record.all_tags()
    rows = [t.removeprefix("row:") for t in tags if t.startswith("row:")]
    tables = [_table_key(t) for t in tags if t.startswith("table:")]
    if not rows:
        return {}
    return {table: rows[0] for table in tables} if tables else {"*": rows[0]}


def identity(record: RunRecord, labels: Mapping[str, Any]) -> Identity:
    """The model, stage and explicit rows of a run, from its config and lineage."""
    rows = explicit_rows(record)
    # An INT4 row: named so by its experiment, or measured on 4-bit weights (nf4, GGUF Q4).
    int4 = any("INT4" in row for row in rows.values())
    int4 = int4 or record.metrics.get("model/precision") == "int4"
    quantized = record.metrics.get("model/quantization")
    # Other quantized evaluations (GGUF F16, Q8_0) get rows of their own beside the original.
    quant = str(quantized) if quantized not in (None, "none") and not int4 else None
    if record.job == "score":
        predictions = str(record.config.get("predictions", ""))
        parsed = authors.parse_name(Path(predictions).name, labels)
        if parsed is not None:
            return Identity(parsed.model, parsed.stage, int4, rows, quant)
        return Identity(Path(predictions).stem, None, int4, rows, quant)
    trained = record.config if record.job == "train" else record.parent_config
    if trained is not None:
        name = str(trained.get("model", {}).get("name"))
        stage = trained.get("stage", {}).get("name")
        return Identity(str(labels["finetuned"].get(name, name)), stage, int4, rows, quant)
    name = str((record.config.get("model") or {}).get("name", "unknown"))
    return Identity(str(labels["models"].get(name, name)), None, int4, rows, quant)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: malformed YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    return data


def shape_problem(config: Mapping[str, Any], name: str = "config.yaml") -> str | None:
    """Why a config's sections cannot be read as a bioqwen run's (`tracking: offline` as a
    plain value, tags that are not a list), or None when they can."""
    for key in _SECTIONS:
        value = config.get(key)
        if value is not None and not isinstance(value, Mapping):
            return f"{name}: `{key}` is {value!r}, expected a mapping"
    for key in ("tracking", "experiment"):
        block = config.get(key)
        tags = block.get("tags") if isinstance(block, Mapping) else None
        if tags is not None and not isinstance(tags, list):
            return f"{name}: `{key}.tags` is {tags!r}, expected a list"
    return None


def _parent_config(lineage: Mapping[str, Any]) -> dict[str, Any] | None:
    """The training run config an evaluation's model came from, when it is still on disk."""
    parents = lineage.get("parents") or []
    if not isinstance(parents, list):
        raise ValueError(f"lineage.json: `parents` is {parents!r}, expected a list")
    for parent in parents:
        path = Path(str(parent.get("run") if isinstance(parent, Mapping) else parent))
        if (path / "config.yaml").is_file():
            config = _read_yaml(path / "config.yaml")
            problem = shape_problem(config, str(path / "config.yaml"))
            if problem:
                raise ValueError(problem)
            return config
    return None


def read_run_dir(directory: str | Path) -> RunRecord | Skipped:
    """Read one run directory, or say why it cannot be used."""
    directory = Path(directory)
    metrics_path = directory / "metrics.json"
    if not metrics_path.is_file():
        return Skipped(str(directory), "no metrics.json (a failed or unfinished run)")
    if not (directory / "config.yaml").is_file():
        return Skipped(str(directory), "no config.yaml (not a bioqwen run directory)")
    try:
        metrics = read_json(metrics_path)
        config = _read_yaml(directory / "config.yaml")
        problem = shape_problem(config)
        if problem:
            raise ValueError(problem)
        lineage_path = directory / "lineage.json"
        lineage = read_json(lineage_path) if lineage_path.is_file() else {}
        if not isinstance(lineage, dict):
            raise ValueError(f"{lineage_path}: not a JSON object")
        card_path = directory / "data_card.json"
        card = read_json(card_path) if card_path.is_file() else None
        parent = _parent_config(lineage) if config.get("job") == "evaluate" else None
    except (ValueError, OSError) as err:
        return Skipped(str(directory), str(err))
    if not isinstance(metrics, dict) or not metrics:
        return Skipped(str(directory), "metrics.json holds no metrics")
    tracking = config.get("tracking") or {}
    experiment = experiment_block(config)
    return RunRecord(
        path=str(directory),
        job=str(config.get("job") or lineage.get("job") or "unknown"),
        config=config,
        metrics=metrics,
        lineage=lineage,
        group=tracking.get("group") or experiment.get("name"),
        data_card=card,
        parent_config=parent,
        mtime=metrics_path.stat().st_mtime,
    )


def _is_report(directory: Path) -> bool:
    config = directory / "config.yaml"
    return config.is_file() and "\njob: report\n" in "\n" + config.read_text(encoding="utf-8")


def find_run_dirs(pattern: str, exclude: Iterable[Path] = ()) -> list[Path]:
    """Run directories matching a glob (`runs/**`): those holding config.yaml or metrics.json.

    Reports are not runs to report on, and the runs inside a report's directory (its scored
    authors' files) belong to that report: both are left out, as is everything in `exclude`.
    """
    # Only the parts below the glob's fixed prefix decide (a checkout may sit in ~/.work/).
    prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    base = Path(prefix) if prefix.endswith("/") else Path(prefix).parent
    candidates = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        path = Path(match)
        below = path.relative_to(base).parts if path.is_relative_to(base) else path.parts
        if not path.is_dir() or any(p.startswith(".") or p in _NOT_RUNS for p in below):
            continue
        if (path / "config.yaml").is_file() or (path / "metrics.json").is_file():
            candidates.append(path)
    fenced = [p.resolve() for p in exclude] + [p.resolve() for p in candidates if _is_report(p)]
    return [
        p
        for p in candidates
        if not any(f == p.resolve() or f in p.resolve().parents for f in fenced)
    ]


def in_group(record: RunRecord, group: str) -> bool:
    """Whether a run belongs to an experiment / W&B group (by config, or its directory)."""
    return record.group == group or group in Path(record.path).parts


def offline_history(record: RunRecord) -> list[dict[str, Any]]:
    """A run's logged history rows from its newest offline W&B run file ([] when none)."""
    from bioqwen.tracking import read_offline_run

    if record.history is not None:
        return record.history
    runs = sorted(
        Path(record.path).glob("wandb/*run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime
    )
    try:
        record.history = read_offline_run(runs[-1].parent)["history"] if runs else []
    except (ValueError, OSError):
        record.history = []
    return record.history
