"""Gold readers for the paper's six benchmarks, in their original file formats.

NER gold is, per document and entity type, the set of mention strings of title and abstract
(what the scoring recipe compares). QA gold is (question, reference answer) pairs: the raw
webMedQA, cMedQA2 and iCliniq corpora are parsed by data/'s one reader per format (eval picks
the first positive answer of each question), the authors' 50-question CSVs here. Which splits
are read, under which original file names, comes from conf/benchmark/<name>.yaml; `data_dir`
may be relative to the working directory or to the checkout root.

Gold is validated: a mention whose offsets do not select its text (PubTator, NCBI, BioC,
CMeEE) is an error naming the file and line or record. Repeated documents or questions are
scored once and counted (`Benchmark.duplicates`, reported as `n_duplicates` in metrics.json).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.checkout import in_checkout
from bioqwen.config import BenchmarkReader
from bioqwen.data.records import not_utf8
from bioqwen.data.sources import SourceSpec, crlf_to_lf, read_source
from bioqwen.errors import BioqwenError
from bioqwen.eval.ner_gold import NerDocument, read_bioc, read_cmeee, read_pubtator

__all__ = ["Benchmark", "NerDocument", "QaItem", "load_benchmark", "read_split"]

BC5CDR_SUFFIXES = {"bioc": ".BioC.xml", "pubtator": ".PubTator.txt"}
READERS = tuple(reader.value for reader in BenchmarkReader)

# CSV cells of full abstracts and answers exceed the csv module's default 128 KiB field limit
# only in pathological files, but the limit must never truncate silently.
csv.field_size_limit(1 << 30)


@dataclass
class QaItem:
    """One QA question and its reference answer."""

    id: str
    split: str
    question: str
    answer: str


@dataclass
class Benchmark:
    """A loaded benchmark: its items in split order, and how many repeats were left out."""

    name: str
    task: str
    lang: str
    types: list[str]
    items: list[Any]
    duplicates: int = 0


def entity_types(cfg: Mapping[str, Any]) -> list[str]:
    """Scored entity types of a benchmark config, in first-seen order of its `types` mapping."""
    return list(dict.fromkeys(str(t) for t in cfg["types"].values()))


def type_aliases(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Response label -> scored entity type (e.g. 疾病 -> Disease) of a benchmark config."""
    return {str(k): str(v) for k, v in cfg["type_aliases"].items()}


# ---------------------------------------------------------------------------------------------
# QA readers: the raw corpora through data/'s one parser per format; the authors' CSVs here


def csv_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 CSV with a header (BOM allowed), the required columns checked (a column
    named twice is an error: a dict reader would keep the last one silently), CRLF in cells
    restored to LF; line numbers are those of each row's last line."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            if repeated:
                raise BioqwenError(f"{path}:1: column(s) {','.join(repeated)} named twice")
            missing = [c for c in required if c not in columns]
            if missing:
                raise BioqwenError(
                    f"{path}:1: missing column(s) {','.join(missing)} "
                    f"(found {','.join(columns) or 'no header'})"
                )
            try:
                for row in reader:
                    yield reader.line_num, {k: crlf_to_lf(v or "") for k, v in row.items() if k}
            except csv.Error as err:
                raise BioqwenError(f"{path}:{reader.line_num + 1}: unreadable CSV: {err}") from err
    except UnicodeDecodeError as err:
        raise not_utf8(path) from err


def read_paper_csv(path: Path, split: str) -> list[QaItem]:
    """Read the authors' 50-question evaluation CSVs (columns prompt, answer[, response])."""
    return [
        QaItem(f"{split}:{line}", split, row["prompt"], row["answer"])
        for line, row in csv_rows(path, ("prompt", "answer"))
    ]


def _from_source(
    reader: str, path: Path, split: str, name: str, options: Mapping[str, Any]
) -> list[QaItem]:
    """QA gold through data/'s parser: the first positive answer of each question."""
    spec = SourceSpec(name, path, "qa", None, options)
    items: list[QaItem] = []
    seen: set[str] = set()
    for record in read_source(spec, reader):
        if not isinstance(record, dict):
            continue  # negatives, answers outside the split: never gold (bad lines raise)
        qid = str(record["meta"].get("question_id") or record["id"])
        if qid in seen:
            continue  # further positive answers of a question: the first is the reference
        seen.add(qid)
        question, answer = (m["content"] for m in record["messages"])
        items.append(QaItem(f"{split}:{qid.rsplit(':', 1)[-1]}", split, question, answer))
    return items


# ---------------------------------------------------------------------------------------------
# Dispatch


def _bc5cdr_path(data_dir: Path, stem: str, fmt: str) -> Path:
    if fmt == "auto":
        bioc = data_dir / (stem + BC5CDR_SUFFIXES["bioc"])
        return bioc if bioc.exists() else data_dir / (stem + BC5CDR_SUFFIXES["pubtator"])
    if fmt not in BC5CDR_SUFFIXES:
        raise BioqwenError(f"benchmark.format={fmt!r}: expected auto, bioc or pubtator")
    return data_dir / (stem + BC5CDR_SUFFIXES[fmt])


def split_path(cfg: Mapping[str, Any], split: str) -> Path:
    """The gold file of one split (BC5CDR: BioC XML preferred over PubTator under `auto`)."""
    files = cfg["files"]
    if split not in files:
        raise BioqwenError(
            f"benchmark {cfg['name']!r}: no file for split {split!r} "
            f"(benchmark.files has {', '.join(files) or 'nothing'})"
        )
    data_dir = in_checkout(cfg["data_dir"])
    if cfg["reader"] == "bc5cdr":
        return _bc5cdr_path(data_dir, files[split], str(cfg["format"]))
    return data_dir / files[split]


def _source_options(cfg: Mapping[str, Any], split: str) -> dict[str, Any]:
    """Reader options of data/'s parser for a raw QA corpus (cMedQA2: its three files)."""
    if cfg["reader"] != "cmedqa2":
        return {}
    files = cfg["files"]
    return {
        "questions": files["questions"],
        "answers": files["answers"],
        "candidates": files[split],
    }


def read_split(cfg: Mapping[str, Any], split: str) -> list[Any]:
    """Read one split of a benchmark; a missing, empty or unreadable gold file is an error
    naming it."""
    path = split_path(cfg, split)
    if not path.exists():
        raise BioqwenError(f"gold file not found: {path} (benchmark {cfg['name']!r})")
    if not path.is_file():
        raise BioqwenError(f"{path}: a directory, not a gold file (benchmark {cfg['name']!r})")
    items = _read_gold(cfg, split, path)
    if not items:
        raise BioqwenError(f"{path}: no gold items in this file (benchmark {cfg['name']!r})")
    return items


def _read_gold(cfg: Mapping[str, Any], split: str, path: Path) -> list[Any]:
    """The items of one gold file, by the benchmark's reader."""
    reader = cfg["reader"]
    types = {str(k): str(v) for k, v in cfg["types"].items()}
    if reader == "ncbi":
        return read_pubtator(path, split, types)
    if reader == "bc5cdr":
        reader_fn = read_bioc if path.name.endswith(".xml") else read_pubtator
        return reader_fn(path, split, types)
    if reader == "cmeee":
        return read_cmeee(path, split, types)
    if reader == "paper_csv":
        return read_paper_csv(path, split)
    if reader in ("webmedqa", "icliniq", "cmedqa2"):
        source = path.parent if reader == "cmedqa2" else path
        return _from_source(reader, source, split, str(cfg["name"]), _source_options(cfg, split))
    raise BioqwenError(f"benchmark.reader={reader!r}: expected one of {', '.join(READERS)}")


def _dedupe(items: list[Any]) -> tuple[list[Any], int]:
    """Documents once each (NCBI's training file holds PMID 8528200 twice); every question is
    kept. Returns the items and the number of repeated documents or question texts."""
    seen: set[str] = set()
    out = []
    repeats = 0
    for item in items:
        key = item.id if isinstance(item, NerDocument) else item.question.strip()
        repeats += key in seen
        if key in seen and isinstance(item, NerDocument):
            continue
        seen.add(key)
        out.append(item)
    return out, repeats


def load_benchmark(cfg: Mapping[str, Any], splits: Sequence[str] | None = None) -> Benchmark:
    """Read the configured splits (or `splits`) in order, deduplicated, cut to `limit`."""
    chosen = list(splits if splits is not None else cfg["splits"])
    if not chosen:
        raise BioqwenError(f"benchmark {cfg['name']!r}: benchmark.splits is empty")
    items: list[Any] = []
    for split in chosen:
        items.extend(read_split(cfg, split))
    items, repeats = _dedupe(items)
    if cfg["limit"] is not None:
        items = items[: int(cfg["limit"])]
    return Benchmark(
        name=str(cfg["name"]),
        task=str(cfg["task"]),
        lang=str(cfg["lang"]),
        types=entity_types(cfg),
        items=items,
        duplicates=repeats,
    )


def available_splits(cfg: Mapping[str, Any]) -> list[str]:
    """Every configured split whose gold file exists in data_dir (what `score` joins against)."""
    names = [s for s in cfg["files"] if s not in ("questions", "answers")]
    found = [s for s in names if split_path(cfg, s).exists()]
    if not found:
        expected = ", ".join(str(split_path(cfg, s)) for s in names) or "(benchmark.files empty)"
        raise BioqwenError(f"no gold file found for benchmark {cfg['name']!r}: {expected}")
    return found
