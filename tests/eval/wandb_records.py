"""Read an offline W&B run's summary back from its `.wandb` file (test helper).

wandb 0.31 writes no wandb-summary.json for offline runs; the summary lives only in the run's
transaction log: a LevelDB-style log (7-byte file header, 32 KiB blocks, records with a 7-byte
header of CRC, length and FULL/FIRST/MIDDLE/LAST type) of `wandb_internal_pb2.Record`s.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7  # both the file header (':W&B', magic, version) and each record header
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # a block's tail too short for a header is zero padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0:
            pos += left
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk


def offline_summary(run_dir: Path) -> dict[str, Any]:
    """The final summary of the single offline W&B run under run_dir/wandb."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    summary: dict[str, Any] = {}
    for payload in _payloads(log):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                summary[key] = json.loads(item.value_json)
    return summary
