"""Gold readers for the paper's six benchmarks, in their original file formats.

NER gold is, per document and entity type, the set of mention strings of title and abstract
(what the scoring recipe compares). QA gold is (question, reference answer) pairs. Which
splits are read, and under which original file names, comes from conf/benchmark/<name>.yaml;
`data_dir` may be relative to the working directory or to the project root.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BC5CDR_SUFFIXES = {"bioc": ".BioC.xml", "pubtator": ".PubTator.txt"}
NER_READERS = ("ncbi", "bc5cdr", "cmeee")
QA_READERS = ("paper_csv", "webmedqa", "cmedqa2", "icliniq")

# CSV cells of full abstracts and answers exceed the csv module's default 128 KiB field limit
# only in pathological files, but the limit must never truncate silently.
csv.field_size_limit(1 << 30)


@dataclass
class NerDocument:
    """One NER document: its text parts and gold mention strings per entity type."""

    id: str
    split: str
    title: str
    text: str  # abstract (NCBI, BC5CDR) or sentence (CMeEE)
    gold: dict[str, set[str]] = field(default_factory=dict)

    def input_text(self, mode: str = "abstract") -> str:
        """The text the model reads: the abstract alone (as the authors) or title + abstract."""
        if mode == "title_abstract" and self.title:
            return f"{self.title} {self.text}"
        return self.text


@dataclass
class QaItem:
    """One QA question and its reference answer."""

    id: str
    split: str
    question: str
    answer: str


@dataclass
class Benchmark:
    """A loaded benchmark: its items in split order and the gold files they came from."""

    name: str
    task: str
    lang: str
    types: list[str]
    items: list[Any]
    files: list[Path]


def resolve_dir(data_dir: str | Path) -> Path:
    """A data directory as given, or relative to the project root when not found as given."""
    path = Path(data_dir).expanduser()
    if path.is_absolute() or path.exists():
        return path
    candidate = PROJECT_ROOT / path
    return candidate if candidate.exists() else path


def entity_types(cfg: Mapping[str, Any]) -> list[str]:
    """Scored entity types of a benchmark config, in first-seen order of its `types` mapping."""
    return list(dict.fromkeys(str(t) for t in (cfg.get("types") or {}).values()))


# ---------------------------------------------------------------------------------------------
# NER readers


def _add_gold(gold: dict[str, set[str]], types: Mapping[str, str], label: str, text: str) -> None:
    target = types.get(label)
    if target is not None and text:
        gold.setdefault(target, set()).add(text)


def _first_chunk(span: str, individual: str) -> str | None:
    """The first contiguous piece of an individual mention inside its composite span.

    PubTator lists individual mentions of a composite as normalised strings ('end-stage liver
    disease' for 'end-stage or malignant liver disease'); BioC gives their locations, and the
    recipe takes the first located chunk ('end-stage'). This recovers that chunk from the
    string: the longest word prefix of the individual mention that occurs in the span.
    """
    if individual in span:
        return individual
    words = individual.split()
    for size in range(len(words) - 1, 0, -1):
        prefix = " ".join(words[:size])
        if prefix in span:
            return prefix
    return None


def read_pubtator(path: Path, split: str, types: Mapping[str, str]) -> list[NerDocument]:
    """Read the PubTator format (BC5CDR) or the original NCBI disease corpus format."""
    docs: list[NerDocument] = []
    current: NerDocument | None = None
    full_text = ""
    with open(path, encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                current = None
                continue
            if "|t|" in line[:30] and line.split("|", 2)[1] == "t":
                pmid, _, title = line.split("|", 2)
                current = NerDocument(pmid, split, title, "")
                docs.append(current)
                full_text = title
                continue
            if current is None:
                raise BioqwenError(f"{path}:{lineno}: annotation line outside a document")
            if "|a|" in line[:30] and line.split("|", 2)[1] == "a":
                current.text = line.split("|", 2)[2]
                full_text = f"{current.title} {current.text}"
                continue
            cols = line.split("\t")
            if len(cols) >= 2 and cols[1] == "CID":
                continue  # relation line
            if len(cols) < 5:
                raise BioqwenError(f"{path}:{lineno}: expected PMID, start, end, text, type")
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError as err:
                raise BioqwenError(f"{path}:{lineno}: offsets are not integers") from err
            _add_gold(current.gold, types, cols[4], cols[3])
            if len(cols) >= 7 and cols[6].strip():
                span = full_text[start:end]
                for individual in cols[6].split("|"):
                    chunk = _first_chunk(span, individual.strip())
                    if chunk:
                        _add_gold(current.gold, types, cols[4], chunk)
    return docs


def read_bioc(path: Path, split: str, types: Mapping[str, str]) -> list[NerDocument]:
    """Read BioC XML (BC5CDR): every annotation, a discontinuous one by its first chunk."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise BioqwenError(f"{path}: malformed BioC XML: {err}") from err
    docs: list[NerDocument] = []
    for node in root.iter("document"):
        doc = NerDocument(node.findtext("id", default=""), split, "", "")
        for passage in node.iter("passage"):
            kind = next((i.text for i in passage.findall("infon") if i.get("key") == "type"), None)
            text = passage.findtext("text", default="")
            if kind == "title":
                doc.title = text
            elif kind == "abstract":
                doc.text = text
            for ann in passage.iter("annotation"):
                label = next(
                    (i.text or "" for i in ann.findall("infon") if i.get("key") == "type"), ""
                )
                locations = ann.findall("location")
                mention = ann.findtext("text", default="")
                if len(locations) > 1:
                    # The annotation text is its chunks joined by spaces, so the first chunk is
                    # its first `length` characters. Same as slicing the passage at the first
                    # location in 152 of the 153 discontinuous mentions; in 6415512 that
                    # offset is one short (' atypical absenc' for 'atypical absence').
                    mention = mention[: int(locations[0].get("length", "0"))]
                _add_gold(doc.gold, types, label, mention)
        docs.append(doc)
    return docs


def read_cmeee(path: Path, split: str, types: Mapping[str, str]) -> list[NerDocument]:
    """Read CBLUE CMeEE JSON (an array of {text, entities}); a file without gold is an error."""
    records = _load_json(path)
    if not isinstance(records, list):
        raise BioqwenError(f"{path}: expected a JSON array of {{text, entities}} records")
    docs: list[NerDocument] = []
    for i, record in enumerate(records):
        if "entities" not in record:
            raise BioqwenError(f"{path}: record {i} has no 'entities' (a file without gold)")
        doc = NerDocument(f"{split}:{i}", split, "", str(record["text"]))
        for ent in record["entities"]:
            _add_gold(doc.gold, types, str(ent["type"]), str(ent["entity"]))
        docs.append(doc)
    return docs


# ---------------------------------------------------------------------------------------------
# QA readers


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BioqwenError(f"{path}:{err.lineno}: malformed JSON: {err.msg}") from err


def _csv_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with a header, checking the required columns (line numbers 1-based)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in required if c not in columns]
        if missing:
            raise BioqwenError(
                f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns)}"
            )
        for row in reader:
            # CRLF inside quoted cells is a checkout artefact of the authors' files (see scoring).
            yield (
                reader.line_num,
                {k: (v or "").replace("\r\n", "\n") for k, v in row.items() if k},
            )


def read_paper_csv(path: Path, split: str) -> list[QaItem]:
    """Read the authors' 50-question evaluation CSVs (columns prompt, answer[, response])."""
    return [
        QaItem(f"{split}:{line}", split, row["prompt"], row["answer"])
        for line, row in _csv_rows(path, ("prompt", "answer"))
    ]


def read_webmedqa(path: Path, split: str) -> list[QaItem]:
    """Read webMedQA (tab-separated ID, label, category, question, answer): positive answers."""
    items: list[QaItem] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5:
                raise BioqwenError(
                    f"{path}:{lineno}: expected ID, label, category, question, answer"
                )
            qid, label, question, answer = cols[0], cols[1].strip(), cols[3], cols[4]
            if label == "1" and qid not in seen:
                seen.add(qid)
                items.append(QaItem(f"{split}:{qid}", split, question, answer))
    return items


def read_icliniq(path: Path, split: str) -> list[QaItem]:
    """Read iCliniq JSON ({input, answer_icliniq, ...}): the doctors' own answers are gold."""
    records = _load_json(path)
    if not isinstance(records, list):
        raise BioqwenError(f"{path}: expected a JSON array of {{input, answer_icliniq}} records")
    items: list[QaItem] = []
    for i, record in enumerate(records):
        if "input" not in record or "answer_icliniq" not in record:
            raise BioqwenError(f"{path}: record {i} lacks 'input' or 'answer_icliniq'")
        items.append(QaItem(f"{split}:{i}", split, record["input"], record["answer_icliniq"]))
    return items


def _first_of(row: Mapping[str, str], names: Sequence[str], path: Path) -> str:
    for name in names:
        if name in row:
            return row[name]
    raise BioqwenError(f"{path}: none of the columns {', '.join(names)}")


def read_cmedqa2(data_dir: Path, files: Mapping[str, str], split: str) -> list[QaItem]:
    """Read cMedQA2: <split>_candidates (question_id,ans_id,cnt,label) joined to the texts.

    The first positive answer of each question in the split's candidate file is its gold.
    """
    candidates = data_dir / files[split]
    questions_path = data_dir / files.get("questions", "questions.csv")
    answers_path = data_dir / files.get("answers", "answers.csv")
    for path in (candidates, questions_path, answers_path):
        if not path.exists():
            raise BioqwenError(f"gold file not found: {path}")
    positives: dict[str, str] = {}
    for _, row in _csv_rows(candidates, ("question_id", "ans_id", "label")):
        if row["label"].strip() == "1":
            positives.setdefault(row["question_id"], row["ans_id"])
    questions = {
        _first_of(row, ("question_id", "que_id"), questions_path): row["content"]
        for _, row in _csv_rows(questions_path, ("content",))
    }
    answers = {
        _first_of(row, ("ans_id", "answer_id"), answers_path): row["content"]
        for _, row in _csv_rows(answers_path, ("content",))
    }
    items: list[QaItem] = []
    for qid, aid in positives.items():
        if qid not in questions or aid not in answers:
            raise BioqwenError(f"{candidates}: question {qid} / answer {aid} has no text")
        items.append(QaItem(f"{split}:{qid}", split, questions[qid], answers[aid]))
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
    files = cfg.get("files") or {}
    if split not in files:
        raise BioqwenError(
            f"benchmark {cfg.get('name')!r}: no file for split {split!r} "
            f"(benchmark.files has {', '.join(files) or 'nothing'})"
        )
    data_dir = resolve_dir(cfg["data_dir"])
    if cfg["reader"] == "bc5cdr":
        return _bc5cdr_path(data_dir, files[split], str(cfg.get("format", "auto")))
    return data_dir / files[split]


def read_split(cfg: Mapping[str, Any], split: str) -> tuple[list[Any], Path]:
    """Read one split of a benchmark; a missing gold file is an error naming it."""
    reader = cfg["reader"]
    path = split_path(cfg, split)
    if not path.exists():
        raise BioqwenError(f"gold file not found: {path} (benchmark {cfg.get('name')!r})")
    types = {str(k): str(v) for k, v in (cfg.get("types") or {}).items()}
    if reader == "ncbi":
        return read_pubtator(path, split, types), path
    if reader == "bc5cdr":
        reader_fn = read_bioc if path.name.endswith(".xml") else read_pubtator
        return reader_fn(path, split, types), path
    if reader == "cmeee":
        return read_cmeee(path, split, types), path
    if reader == "paper_csv":
        return read_paper_csv(path, split), path
    if reader == "webmedqa":
        return read_webmedqa(path, split), path
    if reader == "icliniq":
        return read_icliniq(path, split), path
    if reader == "cmedqa2":
        return read_cmedqa2(resolve_dir(cfg["data_dir"]), cfg.get("files") or {}, split), path
    raise BioqwenError(
        f"benchmark.reader={reader!r}: expected one of {', '.join(NER_READERS + QA_READERS)}"
    )


def _dedupe(items: list[Any]) -> list[Any]:
    """Drop repeated documents (NCBI's training file holds PMID 8528200 twice)."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.id if isinstance(item, NerDocument) else item.id + "\0" + item.question
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def load_benchmark(cfg: Mapping[str, Any], splits: Sequence[str] | None = None) -> Benchmark:
    """Read the configured splits (or `splits`) in order, deduplicated, cut to `limit`."""
    chosen = list(splits if splits is not None else cfg.get("splits") or [])
    if not chosen:
        raise BioqwenError(f"benchmark {cfg.get('name')!r}: benchmark.splits is empty")
    items: list[Any] = []
    files: list[Path] = []
    for split in chosen:
        read, path = read_split(cfg, split)
        items.extend(read)
        files.append(path)
    items = _dedupe(items)
    limit = cfg.get("limit")
    if limit is not None:
        items = items[: int(limit)]
    return Benchmark(
        name=str(cfg["name"]),
        task=str(cfg["task"]),
        lang=str(cfg["lang"]),
        types=entity_types(cfg),
        items=items,
        files=files,
    )


def available_splits(cfg: Mapping[str, Any]) -> list[str]:
    """Every configured split whose gold file exists in data_dir (what `score` joins against)."""
    names = [s for s in (cfg.get("files") or {}) if s not in ("questions", "answers")]
    found = [s for s in names if split_path(cfg, s).exists()]
    if not found:
        expected = ", ".join(str(split_path(cfg, s)) for s in names) or "(benchmark.files empty)"
        raise BioqwenError(f"no gold file found for benchmark {cfg.get('name')!r}: {expected}")
    return found
