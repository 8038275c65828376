"""Measured training speed (tokens/s per GPU, padding excluded) for a model and shape on a GPU.

Three sources, in this order, each named on the plan's line:
1. earlier train runs of the same model and shape (model, method, batching, per-device batch,
   max_length): their metrics.json `perf/run_tokens_per_s_per_device`, on the GPU their W&B
   metadata names (`wandb/*run-*/files/wandb-metadata.json`; a run without it is skipped);
2. the GPU benchmark's table (benchmarks/gpu_train_throughput.py --table), rows of the same
   hub model (or model name), method, batching, per-device batch and max_length on that GPU;
3. the paper's training hours on 4x RTX 3090 (conf/paper/training_hours.yaml) over the tokens
   it trained (Table 1 tokens x epochs): a speed of an RTX 3090, whatever GPU was asked for.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bioqwen.errors import BioqwenError
from bioqwen.runs import METRICS_FILE, read_json

TABLE_FORMAT = "bioqwen-gpu-throughput/1"
RUN_KEY = "perf/run_tokens_per_s_per_device"
SHAPE_KEYS = ("model", "method", "batching", "per_device_batch_size", "max_length")


@dataclass(frozen=True)
class Speed:
    """Tokens/s of one GPU, the GPU it holds for, and where it comes from (None: unknown)."""

    tokens_per_s: float | None
    gpu: str
    source: str


def shape(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What a speed depends on, from a composed train config (plain)."""
    stage = cfg["stage"]
    return {
        "model": cfg["model"]["name"],
        "hub_id": cfg["model"].get("hub_id"),
        "method": cfg["method"]["name"],
        "batching": stage["batching"],
        "per_device_batch_size": int(stage["per_device_batch_size"]),
        "max_length": int(stage["max_length"]),
    }


def describe(s: Mapping[str, Any]) -> str:
    """A shape in words."""
    return (
        f"{s['model']} {s['method']} {s['batching']} x{s['per_device_batch_size']} "
        f"max_length {s['max_length']}"
    )


def run_device(run_dir: Path) -> str | None:
    """The GPU a run trained on per its W&B metadata ('cpu' without a GPU), None if unrecorded."""
    for meta in sorted(run_dir.glob("wandb/*run-*/files/wandb-metadata.json")):
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        nvidia = data.get("gpu_nvidia") or []
        name = data.get("gpu") or (nvidia[0].get("name") if nvidia else None)
        return str(name) if name else "cpu"
    return None


def measured_runs(roots: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Finished train runs under roots with a measured speed: shape, device, tokens/s, dir."""
    found = []
    for root in roots:
        for metrics_path in sorted(Path(root).rglob(METRICS_FILE)):
            run_dir = metrics_path.parent
            config_path = run_dir / "config.yaml"
            if not config_path.is_file():
                continue
            try:
                cfg = yaml.safe_load(config_path.read_text(encoding="utf-8"))
                metrics = read_json(metrics_path)
            except (yaml.YAMLError, ValueError, OSError):
                continue
            if not isinstance(cfg, dict) or cfg.get("job") != "train" or RUN_KEY not in metrics:
                continue
            try:
                run_shape = shape(cfg)
            except (KeyError, TypeError):
                continue
            found.append(
                {
                    "shape": run_shape,
                    "device": run_device(run_dir),
                    "tokens_per_s": float(metrics[RUN_KEY]),
                    "dir": str(run_dir),
                }
            )
    return found


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """The GPU benchmark's table ({"format", "rows": [...]}); [] when the file is not there."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        table = read_json(path)
    except ValueError as err:
        raise BioqwenError(str(err)) from err
    if not isinstance(table, dict) or table.get("format") != TABLE_FORMAT:
        raise BioqwenError(f"{path}: not a {TABLE_FORMAT} table (written by --table)")
    needed = {"gpu", "model", "method", "batching", "per_device_batch_size", "max_length"}
    for index, row in enumerate(table.get("rows", [])):
        missing = sorted((needed | {"tokens_per_s"}) - set(row))
        if missing:
            raise BioqwenError(f"{path}: rows[{index}] lacks {missing[0]!r}")
    return list(table.get("rows", []))


def _on(gpu: str, device: str | None) -> bool:
    """Whether a device name is the GPU asked for (a case-insensitive fragment: H100, A100)."""
    return device is not None and gpu.lower() in device.lower()


def from_runs(want: Mapping[str, Any], gpu: str, runs: list[dict[str, Any]]) -> Speed | None:
    """The mean measured speed of the runs of this shape on this GPU."""
    same = [r for r in runs if all(r["shape"][k] == want[k] for k in SHAPE_KEYS)]
    here = [r for r in same if _on(gpu, r["device"])]
    if not here:
        return None
    speed = statistics.mean(r["tokens_per_s"] for r in here)
    device = str(here[0]["device"])
    listed = ", ".join(r["dir"] for r in here[:3]) + (" ..." if len(here) > 3 else "")
    return Speed(
        speed, device, f"measured: {RUN_KEY} of {len(here)} train run(s) on {device}: {listed}"
    )


def from_table(
    want: Mapping[str, Any], gpu: str, rows: list[dict[str, Any]], path: str
) -> Speed | None:
    """The benchmark table's speed for this shape on this GPU (packed runs padding-free)."""
    batching = "padding_free" if want["batching"] == "packed" else want["batching"]
    hits = [
        r
        for r in rows
        if _on(gpu, str(r["gpu"]))
        and r["model"] in (want["hub_id"], want["model"])
        and r["method"] == want["method"]
        and r["batching"] == batching
        and int(r["per_device_batch_size"]) == want["per_device_batch_size"]
        and int(r["max_length"]) == want["max_length"]
    ]
    if not hits:
        return None
    best = max(hits, key=lambda r: float(r["tokens_per_s"]))  # the fastest attention backend
    note = " (packed timed as padding-free)" if want["batching"] == "packed" else ""
    return Speed(
        float(best["tokens_per_s"]),
        str(best["gpu"]),
        f"GPU benchmark table {path}: {best['gpu']}, {best.get('attention', '?')}, measured "
        f"{best.get('measured_at', '?')}{note}",
    )


def from_paper(
    want: Mapping[str, Any],
    stage: str,
    paper: Mapping[str, Any],
    hours: Mapping[str, Any],
    paper_tokens: Mapping[str, float],
) -> Speed | None:
    """tokens/s of one RTX 3090 implied by the paper's hours for this model and stage."""
    row = paper["models"].get(want["model"])
    spec = paper["stages"].get(stage)
    if row is None or spec is None or row not in hours["rows"]:
        return None
    hour = float(hours["rows"][row][list(hours["columns"]).index(spec["column"])])
    tokens = paper_tokens[stage] * float(spec["epochs"])
    gpus = int(paper["gpus"])
    speed = tokens / (hour * gpus * 3600)
    return Speed(
        speed,
        str(paper["gpu"]),
        f"paper: {row} {spec['column']} {hour:g} h on {gpus}x {paper['gpu']} "
        f"(conf/paper/training_hours.yaml) for {paper_tokens[stage] / 1e6:.1f} M tokens x "
        f"{spec['epochs']} epochs = {speed:,.0f} tokens/s per GPU",
    )
