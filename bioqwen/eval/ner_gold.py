"""NER gold readers: NCBI disease corpus and BC5CDR (PubTator, BioC XML), CBLUE CMeEE.

Gold is, per document and entity type, the set of mention strings of title and abstract (what
the scoring recipe compares). Every mention is validated against its text: one whose offsets
do not select it (beyond the slack the shipped corpora need) is an error naming the file and
line, or the document / record.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioqwen.data.records import not_utf8
from bioqwen.errors import BioqwenError
from bioqwen.runs import parse_json


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


def _load_json(path: Path) -> Any:
    try:
        return parse_json(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise not_utf8(path) from err
    except json.JSONDecodeError as err:
        raise BioqwenError(f"{path}:{err.lineno}: malformed JSON: {err.msg}") from err


def _add_gold(gold: dict[str, set[str]], types: Mapping[str, str], label: str, text: str) -> None:
    target = types.get(label)
    if target is not None and text:
        gold.setdefault(target, set()).add(text)


# The shipped corpora hold a few mentions whose offset is off by a character or two (BC5CDR
# document 15863244) or whose text carries trailing spaces (NCBI): within this slack a
# mention counts as located; anything further is a broken file.
OFFSET_SLACK = 2


def located(text: str, start: int, mention: str) -> bool:
    """Whether `mention` (whitespace-stripped) starts within OFFSET_SLACK of `start` in text."""
    needle = mention.strip()
    lowest = max(0, start - OFFSET_SLACK)
    found = text.find(needle, lowest, start + OFFSET_SLACK + len(needle))
    return bool(needle) and found != -1 and found <= start + OFFSET_SLACK


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
    try:
        return _pubtator_documents(path, split, types)
    except UnicodeDecodeError as err:
        raise not_utf8(path) from err


def _pubtator_documents(path: Path, split: str, types: Mapping[str, str]) -> list[NerDocument]:
    docs: list[NerDocument] = []
    current: NerDocument | None = None
    full_text = ""
    with open(path, encoding="utf-8-sig") as handle:
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
            if not located(full_text, start, cols[3]):
                raise BioqwenError(
                    f"{path}:{lineno}: offsets {start}-{end} select "
                    f"{full_text[start:end]!r}, not the mention {cols[3]!r}"
                )
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
        root = ET.fromstring(_entity_free_xml(path))
    except ET.ParseError as err:
        raise BioqwenError(f"{path}: malformed BioC XML: {err}") from err
    docs: list[NerDocument] = []
    for node in root.iter("document"):
        doc = NerDocument(node.findtext("id", default=""), split, "", "")
        for passage in node.iter("passage"):
            kind = next((i.text for i in passage.findall("infon") if i.get("key") == "type"), None)
            text = passage.findtext("text", default="")
            base = int(passage.findtext("offset", default="0"))
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
                if len(locations) == 1:
                    _check_location(path, doc.id, locations[0], base, text, mention)
                if len(locations) > 1:
                    # The annotation text is its chunks joined by spaces, so the first chunk is
                    # its first `length` characters. Same as slicing the passage at the first
                    # location in 152 of the 153 discontinuous mentions; in 6415512 that
                    # offset is one short (' atypical absenc' for 'atypical absence').
                    mention = mention[: int(locations[0].get("length", "0"))]
                _add_gold(doc.gold, types, label, mention)
        docs.append(doc)
    return docs


def _entity_free_xml(path: Path) -> bytes:
    """The bytes of an XML file that declares no entity: expat would expand internal ones (a
    few bytes can declare gigabytes), and BioC gold never declares any (its DOCTYPE names a
    DTD, which is not fetched). In content a literal '<!ENTITY' cannot occur (it is '&lt;')."""
    data = path.read_bytes()
    if b"<!ENTITY" in data:
        raise BioqwenError(f"{path}: declares an XML entity (<!ENTITY); BioC gold declares none")
    return data


def _check_location(
    path: Path, doc_id: str, location: ET.Element, base: int, text: str, mention: str
) -> None:
    """A BioC annotation's location must select its text in the passage."""
    start = int(location.get("offset", "0")) - base
    found = text[start : start + int(location.get("length", "0"))]
    if not located(text, start, mention):
        raise BioqwenError(
            f"{path}: document {doc_id}: annotation at offset {location.get('offset')} "
            f"selects {found!r}, not its text {mention!r}"
        )


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
            span = doc.text[int(ent["start_idx"]) : int(ent["end_idx"]) + 1]
            if not located(doc.text, int(ent["start_idx"]), str(ent["entity"])):
                raise BioqwenError(
                    f"{path}: record {i}: start_idx {ent['start_idx']}..end_idx "
                    f"{ent['end_idx']} select {span!r}, not the entity {ent['entity']!r}"
                )
            _add_gold(doc.gold, types, str(ent["type"]), str(ent["entity"]))
        docs.append(doc)
    return docs
