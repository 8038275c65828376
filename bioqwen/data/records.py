"""What every reader yields, and the line-level helpers they share.

A canonical record is a plain dict (cheap to pickle to tokenizer workers and to write to Arrow):

    {id, source, task, lang, messages: [{role, content}, ...], meta: {...}}

`id` is `<source>:<line>` (or `<source>:<file>:<line>` for a directory of files, or the
source's own unique id where it has one), so a record dropped anywhere later can be named.
Besides records a reader yields `Unused` items, for what it reads but deliberately does not
turn into a record (a webMedQA negative pair, a Taiyi turn after the first, an empty answer):
the pipeline counts each under its reason, so nothing read vanishes uncounted. A line that
cannot be parsed raises a `BioqwenError` naming file:line and key or, with
`on_error="skip"`, comes out as a `BadLine` that the pipeline counts and lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.runs import parse_json

Record = dict[str, Any]
RECORD_KEYS = ("id", "source", "task", "lang", "messages", "meta")
# Reasons that are data, not syntax: such an item is filtered (counted), never an error.
FILTER_REASONS = frozenset({"empty_prompt", "empty_answer"})


@dataclass(frozen=True)
class BadLine:
    """A raw line that could not become a record, kept for the data card under on_error=skip."""

    id: str
    source: str
    task: str
    where: str  # file:line
    reason: str  # invalid_utf8 | malformed_json | missing_field ...
    detail: str


@dataclass(frozen=True)
class Unused:
    """Something read but deliberately not made a record, counted under `reason`."""

    id: str
    task: str
    reason: str  # negative_pair | later_turn | empty_answer | not_in_split ...


class LineError(Exception):
    """A problem with one raw line; the reader turns it into a BioqwenError or a BadLine."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


Item = Record | BadLine | Unused


@dataclass(frozen=True)
class SourceSpec:
    """What a reader needs: the source's name, resolved path, task/lang and reader options.

    `categories`: the categories the mix keeps (Taiyi), so a reader may reject others before
    parsing them in full; None keeps every category.
    """

    name: str
    path: Path
    task: str | None
    lang: str | None
    options: Mapping[str, Any]
    on_error: str = "raise"
    categories: frozenset[str] | None = None


Reader = Callable[[SourceSpec], Iterator[Item]]


def make_record(
    rid: str,
    source: str,
    task: str,
    prompt: str,
    answer: str,
    lang: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Record:
    """Build a single-turn canonical record; an empty prompt or answer is a LineError."""
    prompt = unicode_text(prompt.strip(), "prompt")
    answer = unicode_text(answer.strip(), "answer")
    if not prompt:
        raise LineError("empty_prompt", "empty prompt")
    if not answer:
        raise LineError("empty_answer", "empty answer")
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return dict(zip(RECORD_KEYS, (rid, source, task, lang, messages, meta or {}), strict=True))


def join_prompt(instruction: str, input_text: str) -> str:
    """Instruction and input as one prompt; a newline keeps them apart (the authors glued them)."""
    instruction, input_text = instruction.strip(), input_text.strip()
    if instruction and input_text:
        return f"{instruction}\n{input_text}"
    return instruction + input_text


def field_of(obj: Mapping[str, Any], key: str, kind: type = str) -> Any:
    """obj[key], checked for presence and type, as a LineError naming the key."""
    if not isinstance(obj, Mapping):
        raise LineError("malformed_record", f"expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise LineError("missing_field", f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise LineError(
            "missing_field", f"field {key!r} should be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def files_of(path: Path, suffixes: tuple[str, ...]) -> list[tuple[Path, str]]:
    """The files a source path names: itself, or every matching file under a directory."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
        return [(p, str(p.relative_to(path))) for p in found]
    return [(path, "")]


def crlf_to_lf(text: str) -> str:
    """Text with CRLF line breaks as LF (files checked out on Windows carry CRLF inside cells)."""
    return text.replace("\r\n", "\n")


def raw_lines(path: Path, skip_blank: bool = True) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each (non-blank) line, a byte-order mark before line 1 dropped."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw.strip() or not skip_blank:
                yield number, raw


def decode(raw: bytes) -> str:
    """A raw line as text, decoded strictly (a LineError naming the byte otherwise)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LineError("invalid_utf8", f"invalid UTF-8 at byte {err.start}") from err


def not_utf8(path: Path) -> BioqwenError:
    """The error for a text file that is not UTF-8, naming its first bad line and byte (and
    saying so when it is UTF-16, as spreadsheet programs save 'Unicode text')."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return BioqwenError(f"{path}:1: UTF-16 text; save it as UTF-8")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return BioqwenError(f"{path}:{line}: invalid UTF-8 at byte {err.start}; save it as UTF-8")
    return BioqwenError(f"{path}: not UTF-8 text; save it as UTF-8")


def unicode_text(text: str, what: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (JSON "\\ud800") is a LineError naming it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = text[err.start]
        raise LineError(
            "invalid_unicode", f"{what}: lone surrogate \\u{ord(bad):04x} (not valid Unicode)"
        ) from err
    return text


def lines_of(path: Path, skip_blank: bool = True) -> Iterator[tuple[int, str | LineError]]:
    """(line number, text) for each (non-blank) line, decoding UTF-8 strictly per line."""
    for number, raw in raw_lines(path, skip_blank):
        try:
            yield number, decode(raw)
        except LineError as err:
            yield number, err


def fail(spec: SourceSpec, rid: str, where: str, err: LineError) -> BadLine | Unused:
    """An empty text as a counted Unused item; else the user-facing error, or the BadLine under
    on_error=skip."""
    task = spec.task or "unknown"
    if err.reason in FILTER_REASONS:
        return Unused(rid, task, err.reason)
    if spec.on_error != "skip":
        raise BioqwenError(
            f"{where}: {err.detail} (source {spec.name!r}; data.on_error=skip records and skips it)"
        )
    return BadLine(rid, spec.name, task, where, err.reason, err.detail)


def _array_items(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, object) of a JSON array file (read whole: the array files are small)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise not_utf8(path) from err
    try:
        items = parse_json(text)
    except json.JSONDecodeError as err:
        # A broken array cannot be partly trusted: this is an error under either policy.
        raise BioqwenError(f"{path}:{err.lineno}: malformed JSON: {err.msg}") from err
    if not isinstance(items, list):
        raise BioqwenError(f"{path}: expected a JSON array of objects or JSON Lines")
    for index, obj in enumerate(items):
        yield f"[{index}]", obj


def _is_array(path: Path) -> bool:
    """Whether a JSON file holds one array (its first non-blank byte is '[')."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


Parse = Callable[[Any, str], Record | Unused | list[Item]]
# A cheap look at a raw line that may settle it before the full parse (None: parse it).
Peek = Callable[[bytes, str], Unused | None]


def _as_items(parsed: Record | Unused | list[Item]) -> list[Item]:
    return parsed if isinstance(parsed, list) else [parsed]


def json_items(spec: SourceSpec, parse: Parse, peek: Peek | None = None) -> Iterator[Item]:
    """Items of JSON Lines or JSON array files (one file or a directory of them), each object
    turned into a record (or an Unused item) by `parse(obj, rid)`."""
    for path, rel in files_of(spec.path, (".jsonl", ".json")):
        prefix = f"{spec.name}:{rel}" if rel else spec.name
        if _is_array(path):
            for index, obj in _array_items(path):
                rid = f"{prefix}:{index.strip('[]')}"
                try:
                    yield from _as_items(parse(obj, rid))
                except LineError as err:
                    yield fail(spec, rid, f"{path}:{index}", err)
            continue
        for number, raw in raw_lines(path):
            rid = f"{prefix}:{number}"
            try:
                settled = peek(raw, rid) if peek is not None else None
                if settled is not None:
                    yield settled
                    continue
                try:
                    obj = parse_json(decode(raw))
                except json.JSONDecodeError as err:
                    raise LineError("malformed_json", f"malformed JSON: {err.msg}") from err
                yield from _as_items(parse(obj, rid))
            except LineError as err:
                yield fail(spec, rid, f"{path}:{number}", err)
