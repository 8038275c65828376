"""Cleaning filters (paper 2.2-2.3 and the authors' scripts), each returning kept + dropped.

Every filter takes a list of canonical records and returns `(kept, drops)` where `drops` holds
one `(id, reason)` pair per removed record, so nothing disappears silently and the data card
can show raw = kept + dropped per source. Filters that need token counts (length) take them
as an argument: tokenization happens once, in the pipeline's workers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from bioqwen.config import TextPart, UnscoredRecords
from bioqwen.data.language import detect_language
from bioqwen.data.sources import Record
from bioqwen.errors import BioqwenError
from bioqwen.runs import parse_json

Drop = tuple[str, str]
FilterResult = tuple[list[Record], list[Drop]]


def prompt_of(record: Record) -> str:
    """The user side of a conversation (every user turn, joined)."""
    return "\n".join(m["content"] for m in record["messages"] if m["role"] == "user")


def conversation_of(record: Record) -> str:
    """Every turn's content, joined."""
    return "\n".join(m["content"] for m in record["messages"])


def assign_language(records: Iterable[Record], text: str = "prompt") -> None:
    """Fill in `lang` (in place) where the source did not fix it, from the prompt or all text."""
    if text not in tuple(TextPart):  # a library caller passes any string
        raise BioqwenError(f"data.language.text={text!r}: expected 'prompt' or 'conversation'")
    pick = prompt_of if text == "prompt" else conversation_of
    for record in records:
        if not record.get("lang"):
            # A prompt without letters (numbers, symbols) defaults to English.
            record["lang"] = detect_language(pick(record)) or "en"


def filter_category(records: Sequence[Record], keep: Collection[str]) -> FilterResult:
    """Keep records without a category or whose category (Taiyi) is in `keep`."""
    allowed = set(keep)
    kept: list[Record] = []
    drops: list[Drop] = []
    for record in records:
        category = record["meta"].get("category")
        if category is None or category in allowed:
            kept.append(record)
        else:
            drops.append((record["id"], "category_not_selected"))
    return kept, drops


def keyword_pattern(keywords: Collection[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for a bilingual keyword list (ASCII words: at a word start)."""
    parts = []
    for word in sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True):
        # A word start for Latin keywords keeps 'patient' out of 'impatient'; CJK has no spaces.
        parts.append(rf"\b{re.escape(word)}" if word.isascii() else re.escape(word))
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def filter_medical(
    records: Sequence[Record],
    tasks: Collection[str],
    domains: Collection[str],
    keywords: Collection[str],
    match: str = "prompt",
) -> FilterResult:
    """Drop medical content from the given tasks: by domain labels, then by keywords."""
    if match not in tuple(TextPart):  # a library caller passes any string
        raise BioqwenError(
            f"data.filters.medical.match={match!r}: expected 'prompt' or 'conversation'"
        )
    task_set, domain_set = set(tasks), set(domains)
    pattern = keyword_pattern(keywords)
    pick = prompt_of if match == "prompt" else conversation_of
    kept: list[Record] = []
    drops: list[Drop] = []
    for record in records:
        if record["task"] not in task_set:
            kept.append(record)
        elif domain_set.intersection(record["meta"].get("domain") or ()):
            drops.append((record["id"], "medical_domain"))
        elif pattern is not None and pattern.search(pick(record)):
            drops.append((record["id"], "medical_keyword"))
        else:
            kept.append(record)
    return kept, drops


def load_scores(path: str | Path) -> dict[str, float]:
    """Read a score file keyed by record id: JSON Lines {"id", "score"} or CSV with id,score."""
    path = Path(path)
    if not path.is_file():
        raise BioqwenError(f"data.filters.quality.score_file: {path} does not exist")
    scores: dict[str, float] = {}
    lines: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            reader = csv.DictReader(handle)
            if not {"id", "score"} <= set(reader.fieldnames or ()):
                raise BioqwenError(f"{path}:1: score CSV needs columns id,score")
            rows: Iterable[tuple[int, object, object]] = (
                (reader.line_num, row["id"], _csv_number(row["score"])) for row in reader
            )
        else:
            rows = _jsonl_scores(path, handle)
        for number, rid, value in rows:
            add_score(scores, str(rid), value, f"{path}:{number}", lines.get(str(rid)))
            lines.setdefault(str(rid), number)
    return scores


def add_score(
    scores: dict[str, float], rid: str, value: object, where: str, first: int | None = None
) -> None:
    """Add one record's score; a repeated id, or a score that is not a finite number (NaN,
    Infinity, a boolean, a string), is an error naming file:line (`where`), never kept or
    dropped silently: a reward filter over such a file would keep or drop records at random."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BioqwenError(f"{where}: record {rid}: score {value!r} is not a number")
    if rid in scores:
        earlier = f" (first at line {first})" if first is not None else ""
        raise BioqwenError(f"{where}: record {rid} is scored twice{earlier}")
    scores[rid] = float(value)


def _csv_number(cell: str | None) -> object:
    """A CSV score cell as a float where it parses as one (NaN and inf are then refused)."""
    try:
        return float(cell or "")
    except ValueError:
        return cell


def _jsonl_scores(path: Path, handle: Iterable[str]) -> Iterable[tuple[int, object, object]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            obj = parse_json(line)
        except json.JSONDecodeError as err:
            raise BioqwenError(f"{path}:{number}: malformed JSON: {err.msg}") from err
        if not isinstance(obj, dict) or "id" not in obj or "score" not in obj:
            raise BioqwenError(f"{path}:{number}: expected an object with 'id' and 'score'")
        yield number, obj["id"], obj["score"]


def filter_quality(
    records: Sequence[Record],
    scores: Mapping[str, float],
    threshold: float,
    sources: Collection[str],
    missing: str = "drop",
) -> FilterResult:
    """Keep records of the scored sources whose reward score reaches the threshold.

    A record without a score is dropped as `quality_unscored` by default (counted apart from
    `low_quality` in the card, so a score file that does not match the data shows up at once);
    `missing="keep"` admits it and `missing="error"` stops.
    """
    if missing not in tuple(UnscoredRecords):  # a library caller passes any string
        raise BioqwenError(
            f"data.filters.quality.missing={missing!r}: expected drop, keep or error"
        )
    scored = set(sources)
    kept: list[Record] = []
    drops: list[Drop] = []
    for record in records:
        if record["source"] not in scored:
            kept.append(record)
            continue
        score = scores.get(record["id"])
        if score is None:
            if missing == "error":
                raise BioqwenError(
                    f"record {record['id']} has no score in data.filters.quality.score_file"
                )
            if missing == "keep":
                kept.append(record)
            else:
                drops.append((record["id"], "quality_unscored"))
        elif score >= threshold:
            record["meta"]["score"] = score
            kept.append(record)
        else:
            drops.append((record["id"], "low_quality"))
    return kept, drops


_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Fold width (NFKC), case, whitespace and punctuation, for near-duplicate detection."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCT.sub("", _SPACE.sub("", folded))


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


class Deduplicator:
    """Drops exact and normalised duplicates of any conversation seen before (across chunks)."""

    def __init__(self, normalized: bool = True) -> None:
        self.normalized = normalized
        self._exact: set[bytes] = set()
        self._norm: set[bytes] = set()

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        """Keep the first occurrence of each conversation; later copies are dropped."""
        kept: list[Record] = []
        drops: list[Drop] = []
        for record in records:
            # Role markers keep 'Q: a / A: b' apart from 'Q: a b / A:' (same concatenation).
            text = "\x00".join(f"{m['role']}\x01{m['content']}" for m in record["messages"])
            exact = _digest(text)
            if exact in self._exact:
                drops.append((record["id"], "duplicate_exact"))
                continue
            self._exact.add(exact)
            if self.normalized:
                norm = _digest(normalize_text(text))
                if norm in self._norm:
                    drops.append((record["id"], "duplicate_normalized"))
                    continue
                self._norm.add(norm)
            kept.append(record)
        return kept, drops


def filter_length(
    records: Sequence[Record],
    counts: Sequence[tuple[int, int]],
    max_prompt_tokens: int,
    max_answer_tokens: int,
    pair_tasks: Collection[str],
    max_total_tokens: int,
    total_tasks: Collection[str],
) -> FilterResult:
    """The authors' limits on (prompt tokens, answer tokens): both < max for pair tasks,
    their sum < max_total for total tasks (general data: 1024 - 100)."""
    pair, total = set(pair_tasks), set(total_tasks)
    kept: list[Record] = []
    drops: list[Drop] = []
    for record, (prompt_tokens, answer_tokens) in zip(records, counts, strict=True):
        task = record["task"]
        if task in pair and prompt_tokens >= max_prompt_tokens:
            drops.append((record["id"], "prompt_too_long"))
        elif task in pair and answer_tokens >= max_answer_tokens:
            drops.append((record["id"], "answer_too_long"))
        elif task in total and prompt_tokens + answer_tokens >= max_total_tokens:
            drops.append((record["id"], "total_too_long"))
        else:
            kept.append(record)
    return kept, drops
