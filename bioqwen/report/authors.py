"""The authors' released prediction files: which paper row and benchmark each file name means.

The authors' repository (yueqingyou/BioQwen, folder `result/`) lays files out as
`ner/<dataset>/` and `qa/<dataset>/`, named `<model>[-stage<N>]-<ner|qa>-<dataset>.csv`
(`BioQwen-0.5B-stage2-ner-ncbi-disease.csv`, `taiyi-ner-bc5cdr.csv`, `qwen-chat-qa-cmedqa2.csv`).
Model and dataset names are looked up in conf/report.yaml (`authors_models`, `authors_datasets`);
a name that does not match is reported as skipped, never guessed. A fine-tuned model's file
without a stage is the released (stage-2) model. The extension is matched in any case (`.CSV`
too); two files for one cell (the same name in two folders, or `BioQwen-1.8B-qa-x.csv` beside
`BioQwen-1.8B-stage2-qa-x.csv`) are an error naming both, never the last one winning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError

_NAME = re.compile(
    r"^(?P<model>.+?)(?:-stage(?P<stage>\d))?-(?P<task>ner|qa)-(?P<dataset>[^.]+)\.(?i:csv)$"
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
    """Every prediction CSV under directory (`.csv` in any case): the recognised ones and the
    unknown names; two files for one cell are an error naming both."""
    known: dict[tuple[str, str | None, str, str], AuthorsFile] = {}
    unknown: list[Path] = []
    csvs = [p for p in Path(directory).rglob("*") if p.suffix.lower() == ".csv" and p.is_file()]
    for path in sorted(csvs):
        parsed = parse_name(path.name, labels)
        if parsed is None:
            unknown.append(path)
            continue
        cell = (parsed.model, parsed.stage, parsed.task, parsed.benchmark)
        if cell in known:
            stage = f" {parsed.stage}" if parsed.stage else ""
            raise BioqwenError(
                f"authors_results: two files for {parsed.model}{stage} on {parsed.benchmark}: "
                f"{known[cell].path} and {path}; keep one"
            )
        known[cell] = AuthorsFile(path, *cell)
    return list(known.values()), unknown
