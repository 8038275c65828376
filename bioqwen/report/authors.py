"""The authors' released prediction files: which paper row and benchmark each file name means.

The authors' repository (yueqingyou/BioQwen, folder `result/`) lays files out as
`ner/<dataset>/` and `qa/<dataset>/`, named `<model>[-stage<N>]-<ner|qa>-<dataset>.csv`
(`BioQwen-0.5B-stage2-ner-ncbi-disease.csv`, `taiyi-ner-bc5cdr.csv`, `qwen-chat-qa-cmedqa2.csv`).
Model and dataset names are looked up in conf/report.yaml (`authors_models`, `authors_datasets`);
a name that does not match is reported as skipped, never guessed. A fine-tuned model's file
without a stage is the released (stage-2) model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_NAME = re.compile(
    r"^(?P<model>.+?)(?:-stage(?P<stage>\d))?-(?P<task>ner|qa)-(?P<dataset>[^.]+)\.csv$"
)


@dataclass(frozen=True)
class AuthorsFile:
    """A recognised prediction file: its model label, stage and benchmark."""

    path: Path
    model: str
    stage: str | None
    task: str
    benchmark: str


def parse_name(name: str, labels: Mapping[str, Any]) -> AuthorsFile | None:
    """Recognise an authors' prediction file name, or None when any part is unknown."""
    match = _NAME.match(name)
    if match is None:
        return None
    model = labels["authors_models"].get(match["model"])
    benchmark = labels["authors_datasets"].get(match["dataset"])
    if model is None or benchmark is None:
        return None
    stage = f"stage{match['stage']}" if match["stage"] else None
    if stage is None and model in labels["finetuned"].values():
        stage = "stage2"
    return AuthorsFile(Path(name), str(model), stage, match["task"], str(benchmark))


def list_files(
    directory: str | Path, labels: Mapping[str, Any]
) -> tuple[list[AuthorsFile], list[Path]]:
    """Every prediction CSV under directory: the recognised ones and the unknown names."""
    known: list[AuthorsFile] = []
    unknown: list[Path] = []
    for path in sorted(Path(directory).rglob("*.csv")):
        parsed = parse_name(path.name, labels)
        if parsed is None:
            unknown.append(path)
        else:
            known.append(
                AuthorsFile(path, parsed.model, parsed.stage, parsed.task, parsed.benchmark)
            )
    return known, unknown
