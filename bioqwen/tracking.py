"""Weights & Biases: one run per job, offline by default, files inside the run directory.

wandb is imported lazily so that `tracking=disabled` needs no wandb installed (the GPU
benchmark machine ships without it). The API key is read by wandb from the environment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bioqwen.config import TrackingMode
from bioqwen.errors import BioqwenError

MODES = tuple(mode.value for mode in TrackingMode)
# How long finish() waits for wandb-core to complete the run's record file.
FLUSH_TIMEOUT_S = 30.0

log = logging.getLogger("bioqwen")


class Tracker:
    """A thin handle on a W&B run that is a no-op when tracking is disabled."""

    def __init__(self, run: Any | None, offline: bool = False) -> None:
        self.run = run
        self.offline = offline

    @property
    def enabled(self) -> bool:
        """Whether a W&B run is attached."""
        return self.run is not None

    @property
    def run_path(self) -> str | None:
        """The local directory of the W&B run files (offline-run-* or run-*)."""
        if self.run is None:
            return None
        return str(Path(self.run.dir).parent)

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log a row of metrics."""
        if self.run is not None:
            self.run.log(dict(metrics), step=step)

    def summary(self, metrics: Mapping[str, Any]) -> None:
        """Write final values into the run summary (same keys as metrics.json)."""
        if self.run is not None:
            for key, value in metrics.items():
                self.run.summary[key] = value

    def table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Log a table (data card, sample predictions)."""
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=list[str | int](columns), data=rows)})

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (non-zero exit_code: marked failed); offline, also wait until its
        record file is complete on disk.

        Offline, `run.finish()` returns before wandb-core has written the last records
        (measured: the final summary and exit record land up to ~0.5 s later under load), so a
        job that ended could leave a run file that a reader or `wandb sync` sees without its
        summary. Online, finish() itself waits for the upload.
        """
        if self.run is not None:
            run_path = Path(self.run_path or ".")
            self.run.finish(exit_code=exit_code)
            self.run = None
            if not self.offline:
                return
            deadline = time.monotonic() + FLUSH_TIMEOUT_S
            while not read_offline_run(run_path)["complete"]:
                if time.monotonic() > deadline:
                    log.warning("W&B run file under %s is still incomplete", run_path)
                    return
                time.sleep(0.05)


def check(tracking: Mapping[str, Any]) -> None:
    """Reject an unknown tracking.mode (before a job writes anything)."""
    mode = tracking.get("mode", "offline")
    if mode not in MODES:
        raise BioqwenError(f"tracking.mode={mode!r}: expected one of {MODES}")


def start(
    tracking: Mapping[str, Any],
    run_dir: str | Path,
    config: Mapping[str, Any],
    job: str,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    run_id: str | None = None,
) -> Tracker:
    """Start a W&B run for a job writing under run_dir, or return a disabled tracker.

    `tracking` is a `tracking` node (conf/tracking/*.yaml) or a mapping holding at least `mode`
    (summary jobs and tests pass a few keys; the others fall back to W&B's own defaults).

    With `run_id` (a resumed job) the run continues that W&B run: offline, a second run
    directory with the same id, which `wandb sync` uploads into one run.
    """
    check(tracking)
    mode = str(tracking.get("mode", "offline"))  # for wandb: not a TrackingMode
    if mode == "disabled":
        return Tracker(None)
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        mode=mode,  # type: ignore[arg-type]  # one of MODES: check() above
        project=tracking.get("project") or "bioqwen",
        entity=tracking.get("entity"),
        dir=str(run_dir),
        name=tracking.get("name") or name,
        group=tracking.get("group") or group,
        tags=sorted({*(tags or []), *(tracking.get("tags") or []), f"job:{job}"}),
        job_type=job,
        config=dict(config),
        reinit="finish_previous",
        id=run_id,
        resume="allow" if run_id else None,
        # System stats (GPU utilisation, memory, power) where there is a GPU to watch; on a CPU
        # they are only the host's load, and the sampler costs a process per run.
        settings=wandb.Settings(console="off", x_disable_stats=not _has_gpu()),
    )
    return Tracker(run, offline=mode == "offline")


def _has_gpu() -> bool:
    """Whether a CUDA device is visible (without importing torch when it is not installed)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


# <offline-run|run>-<date>_<time>-<id>[-<n>] (a resumed offline run gets the -<n>).
_RUN_DIR = re.compile(r"run-\d{8}_\d{6}-([a-z0-9]+)(?:-\d+)?$")


def previous_run_id(run_dir: str | Path) -> str | None:
    """The id of the newest W&B run under run_dir/wandb, if any (the one a resume continues)."""
    found = [
        p
        for p in Path(run_dir).glob("wandb/*run-*")
        if p.is_dir() and not p.is_symlink() and _RUN_DIR.search(p.name)
    ]
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    match = _RUN_DIR.search(newest.name)
    return match.group(1) if match else None


# The offline `.wandb` file is a LevelDB-style log (wandb's datastore): a 7-byte file header,
# then 32 KiB blocks of chunks, each `crc32 (4) | length (2) | type (1) | payload`, where a
# record is one FULL chunk or FIRST + MIDDLE* + LAST. Each record is a `wandb_internal` proto.
_HEADER = 7
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    if not data.startswith(b":W&B"):
        raise ValueError(f"{path}: not a W&B run file")
    position, pending = _HEADER, b""
    while position + _HEADER <= len(data):
        left = _BLOCK - position % _BLOCK
        if left < _HEADER:  # block trailer: zero padding
            position += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + _HEADER])
        if kind == 0:  # zero-filled rest of the block
            position += left
            continue
        if position + _HEADER + length > len(data):  # still being written
            return
        payload = data[position + _HEADER : position + _HEADER + length]
        position += _HEADER + length
        if kind == _FULL:
            yield payload
        elif kind == _FIRST:
            pending = payload
        elif kind == _MIDDLE:
            pending += payload
        elif kind == _LAST:
            yield pending + payload
            pending = b""


def read_offline_run(run_path: str | Path) -> dict[str, Any]:
    """Read back an offline run directory: name, group, tags, config, history rows, summary,
    logged artifacts (name, type, aliases, metadata, references), whether the file is complete
    (ends with the run's exit record) and its exit code.

    wandb 0.31 writes no `files/wandb-summary.json` offline (that comes with `wandb sync`), so
    the run's record file is the only place to check what a later sync will upload.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(run_path).glob("run-*.wandb")
    run: dict[str, Any] = {"history": [], "summary": {}, "artifacts": [], "complete": False}
    for payload in _records(path):
        record = pb.Record()  # type: ignore[attr-defined]
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(
                name=record.run.display_name,
                group=record.run.run_group,
                tags=list(record.run.tags),
                config={item.key: json.loads(item.value_json) for item in record.run.config.update},
            )
        elif kind == "history":
            run["history"].append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
        elif kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                run["summary"][key] = json.loads(item.value_json)
        elif kind == "artifact":
            run["artifacts"].append(
                {
                    "name": record.artifact.name,
                    "type": record.artifact.type,
                    "aliases": list(record.artifact.aliases),
                    "metadata": json.loads(record.artifact.metadata or "{}"),
                    "references": {e.path: e.ref for e in record.artifact.manifest.contents},
                }
            )
        elif kind == "exit":
            run["complete"] = True
            run["exit_code"] = record.exit.exit_code  # non-zero: the job failed
    return run
