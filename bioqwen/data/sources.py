"""Readers: one per raw format, each turning its source into canonical records.

A canonical record is a plain dict (cheap to pickle to tokenizer workers and to write to Arrow):

    {id, source, task, lang, messages: [{role, content}, ...], meta: {...}}

`id` is `<source>:<line>` (or `<source>:<file>:<line>` for a directory of files, or the
source's own unique id where it has one), so a record dropped anywhere later can be named.
`lang` is None until language detection fills it in. Readers stream line by line where the
format allows (the full JSONL files are gigabytes); every line is decoded strictly, so bad
bytes, bad JSON, missing fields and empty texts raise a `BioqwenError` naming file:line and
key, or, with `on_error="skip"`, come out as `BadLine` items that the pipeline counts as dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError

Record = dict[str, Any]


@dataclass(frozen=True)
class BadLine:
    """A raw line that could not become a record, kept for the data card under on_error=skip."""

    id: str
    source: str
    task: str
    where: str  # file:line
    reason: str  # invalid_utf8 | malformed_json | missing_field | empty_prompt | empty_answer ...
    detail: str


class LineError(Exception):
    """A problem with one raw line; the reader turns it into a BioqwenError or a BadLine."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


Item = Record | BadLine
Reader = Callable[["SourceSpec"], Iterator[Item]]


@dataclass(frozen=True)
class SourceSpec:
    """What a reader needs: the source's name, resolved path, task/lang and reader options."""

    name: str
    path: Path
    task: str | None
    lang: str | None
    options: Mapping[str, Any]
    on_error: str = "raise"


# Taiyi categories -> canonical task names (others are lower-cased, e.g. TC -> tc).
TAIYI_TASKS = {"NER": "ner", "RE": "re", "MT-zh2en": "mt", "MT-en2zh": "mt"}


def make_record(
    rid: str,
    source: str,
    task: str,
    prompt: str,
    answer: str,
    lang: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Record:
    """Build a single-turn canonical record, refusing empty prompts and answers."""
    prompt, answer = prompt.strip(), answer.strip()
    if not prompt:
        raise LineError("empty_prompt", "empty prompt")
    if not answer:
        raise LineError("empty_answer", "empty answer")
    return {
        "id": rid,
        "source": source,
        "task": task,
        "lang": lang,
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
        "meta": meta or {},
    }


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


def _files(path: Path, suffixes: tuple[str, ...]) -> list[tuple[Path, str]]:
    """The files a source path names: itself, or every matching file under a directory."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
        return [(p, str(p.relative_to(path))) for p in found]
    return [(path, "")]


def crlf_to_lf(text: str) -> str:
    """Text with CRLF line breaks as LF (files checked out on Windows carry CRLF inside cells)."""
    return text.replace("\r\n", "\n")


def _lines(path: Path, skip_blank: bool = True) -> Iterator[tuple[int, str | LineError]]:
    """Yield (line number, text) for each (non-blank) line, decoding UTF-8 strictly per line
    (a byte-order mark before the first line is dropped)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                yield number, LineError("invalid_utf8", f"invalid UTF-8 at byte {err.start}")
                continue
            if text.strip() or not skip_blank:
                yield number, text


def _fail(spec: SourceSpec, rid: str, where: str, err: LineError) -> BadLine:
    """Raise the user-facing error, or return the BadLine under on_error=skip."""
    if spec.on_error != "skip":
        raise BioqwenError(
            f"{where}: {err.detail} (source {spec.name!r}; data.on_error=skip records and skips it)"
        )
    return BadLine(rid, spec.name, spec.task or "unknown", where, err.reason, err.detail)


def _jsonl(spec: SourceSpec, parse: Callable[[Any, str], Record]) -> Iterator[Item]:
    """Stream JSON Lines files, turning each object into a record with `parse(obj, rid)`."""
    for path, rel in _files(spec.path, (".jsonl", ".json")):
        for number, text in _lines(path):
            rid = f"{spec.name}:{rel}:{number}" if rel else f"{spec.name}:{number}"
            where = f"{path}:{number}"
            try:
                if isinstance(text, LineError):
                    raise text
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as err:
                    raise LineError("malformed_json", f"malformed JSON: {err.msg}") from err
                yield parse(obj, rid)
            except LineError as err:
                yield _fail(spec, rid, where, err)


def read_taiyi(spec: SourceSpec) -> Iterator[Item]:
    """Taiyi instruction JSONL: {conversation_id, dataset, category, language, conversation}."""
    all_turns = spec.options.get("turns", "first") == "all"

    def parse(obj: Any, rid: str) -> Record:
        category = field_of(obj, "category")
        turns = field_of(obj, "conversation", list)
        if not turns:
            raise LineError("empty_answer", "empty conversation")
        # The authors trained on the first turn only (script_stage2.filter_fields).
        messages: list[dict[str, str]] = []
        for turn in turns if all_turns else turns[:1]:
            human, assistant = field_of(turn, "human"), field_of(turn, "assistant")
            single = make_record(rid, spec.name, "", human, assistant)
            messages.extend(single["messages"])
        task = spec.task or TAIYI_TASKS.get(category, category.lower())
        meta = {
            "category": category,
            "dataset": obj.get("dataset"),
            "language": obj.get("language"),
            "conversation_id": obj.get("conversation_id"),
        }
        return {
            "id": rid,
            "source": spec.name,
            "task": task,
            "lang": spec.lang,
            "messages": messages,
            "meta": meta,
        }

    return _jsonl(spec, parse)


def read_instruction(spec: SourceSpec) -> Iterator[Item]:
    """Instruction JSONL {instruction, input, output} (MedChatZH, Alpaca-style data)."""

    def parse(obj: Any, rid: str) -> Record:
        prompt = join_prompt(field_of(obj, "instruction"), field_of(obj, "input"))
        return make_record(
            rid, spec.name, spec.task or "qa", prompt, field_of(obj, "output"), spec.lang
        )

    return _jsonl(spec, parse)


def read_coig(spec: SourceSpec) -> Iterator[Item]:
    """COIG-CQIA JSONL: instruction/input/output with domain and task_type kept in meta."""

    def parse(obj: Any, rid: str) -> Record:
        prompt = join_prompt(field_of(obj, "instruction"), field_of(obj, "input"))
        meta = {
            "domain": list(field_of(obj, "domain", list)),
            "task_type": obj.get("task_type"),
            "answer_from": obj.get("answer_from"),
        }
        return make_record(
            rid, spec.name, spec.task or "general", prompt, field_of(obj, "output"), spec.lang, meta
        )

    return _jsonl(spec, parse)


def _json_items(spec: SourceSpec) -> Iterator[tuple[str, str, Any | LineError]]:
    """Items of a JSON array file (small files: iCliniq, self-cognition), or of JSON Lines."""
    path = spec.path
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        yield f"{spec.name}:{line}", f"{path}:{line}", LineError("invalid_utf8", "invalid UTF-8")
        return
    if not text.lstrip().startswith("["):
        for number, line_text in _lines(path):
            try:
                if isinstance(line_text, LineError):
                    raise line_text
                item: Any = json.loads(line_text)
            except json.JSONDecodeError as err:
                item = LineError("malformed_json", f"malformed JSON: {err.msg}")
            except LineError as err:
                item = err
            yield f"{spec.name}:{number}", f"{path}:{number}", item
        return
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        # A broken array cannot be partly trusted: this is an error under either policy.
        raise BioqwenError(f"{path}:{err.lineno}: malformed JSON: {err.msg}") from err
    if not isinstance(items, list):
        raise BioqwenError(f"{path}: expected a JSON array of objects")
    for index, obj in enumerate(items):
        yield f"{spec.name}:{index}", f"{path}:[{index}]", obj


def _from_items(spec: SourceSpec, parse: Callable[[Any, str], Record]) -> Iterator[Item]:
    for rid, where, obj in _json_items(spec):
        try:
            if isinstance(obj, LineError):
                raise obj
            yield parse(obj, rid)
        except LineError as err:
            yield _fail(spec, rid, where, err)


def read_icliniq(spec: SourceSpec) -> Iterator[Item]:
    """iCliniq JSON [{input, answer_icliniq, answer_chatgpt, answer_chatdoctor}] (doctors)."""
    answer_key = spec.options.get("answer_field", "answer_icliniq")

    def parse(obj: Any, rid: str) -> Record:
        return make_record(
            rid,
            spec.name,
            spec.task or "qa",
            field_of(obj, "input"),
            field_of(obj, answer_key),
            spec.lang,
        )

    return _from_items(spec, parse)


def read_self_cognition(spec: SourceSpec) -> Iterator[Item]:
    """Self-cognition JSON [{instruction, input, output}] with <NAME>/<AUTHOR> placeholders."""
    name = str(spec.options.get("name", "BioQwen"))
    author = str(spec.options.get("author", "the BioQwen authors"))

    def fill(text: str) -> str:
        for placeholder, value in (
            ("<NAME>", name),
            ("<AUTHOR>", author),
            ("{{name}}", name),
            ("{{author}}", author),
        ):
            text = text.replace(placeholder, value)
        return text

    def parse(obj: Any, rid: str) -> Record:
        prompt = join_prompt(field_of(obj, "instruction"), str(obj.get("input") or ""))
        return make_record(
            rid,
            spec.name,
            spec.task or "self_cognition",
            fill(prompt),
            fill(field_of(obj, "output")),
            spec.lang,
        )

    return _from_items(spec, parse)


def read_webmedqa(spec: SourceSpec) -> Iterator[Item]:
    """webMedQA tab-separated ID, label, category, question, answer; positive answers only."""
    for path, rel in _files(spec.path, (".txt", ".tsv")):
        for number, text in _lines(path):
            rid = f"{spec.name}:{rel}:{number}" if rel else f"{spec.name}:{number}"
            try:
                if isinstance(text, LineError):
                    raise text
                fields = text.rstrip("\r\n").split("\t")
                if len(fields) < 5:
                    raise LineError(
                        "missing_field",
                        f"expected 5 tab-separated fields (ID, label, category, question, "
                        f"answer), got {len(fields)}",
                    )
                qid, label, category, question = fields[:4]
                answer = "\t".join(fields[4:])
                if label.strip() != "1":
                    continue  # negatives (4 per question) are answers to other questions
                meta = {"question_id": qid, "department": category}
                yield make_record(
                    rid, spec.name, spec.task or "qa", question, answer, spec.lang, meta
                )
            except LineError as err:
                yield _fail(spec, rid, f"{path}:{number}", err)


def _csv_rows(
    spec: SourceSpec, path: Path, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str] | LineError]]:
    """Rows of a UTF-8 CSV with a header, as (line number, row) or (line, LineError)."""
    bad: list[tuple[int, LineError]] = []

    if not path.is_file():
        raise BioqwenError(f"{path} does not exist (source {spec.name!r})")

    def decoded() -> Iterator[str]:
        # Blank lines are kept: a quoted CSV field may span lines.
        for number, text in _lines(path, skip_blank=False):
            if isinstance(text, LineError):
                bad.append((number, text))
                continue
            yield text

    reader = csv.DictReader(decoded())
    header = reader.fieldnames or []
    missing = [key for key in required if key not in header]
    if missing:
        raise BioqwenError(f"{path}:1: CSV header lacks column(s) {missing}; found {header}")
    for row in reader:
        while bad:
            yield bad.pop(0)
        if None in row.values() or None in row:
            yield reader.line_num, LineError("missing_field", "wrong number of CSV fields")
            continue
        yield reader.line_num, {k: crlf_to_lf(v) for k, v in row.items()}
    while bad:
        yield bad.pop(0)


def read_cmedqa2(spec: SourceSpec) -> Iterator[Item]:
    """cMedQA2: question.csv + answer.csv joined on question_id, restricted to a candidates split.

    Candidate files are either `question_id,pos_ans_id,neg_ans_id` (train) or
    `question_id,ans_id,cnt,label` (dev/test; label 1 = a correct answer). One record per
    (question, positive answer), id `<source>:<question_id>:<ans_id>`.
    """
    root = spec.path
    questions_file = root / spec.options.get("questions", "question.csv")
    answers_file = root / spec.options.get("answers", "answer.csv")
    candidates_name = spec.options.get("candidates")
    questions: dict[str, str] = {}
    for number, row in _csv_rows(spec, questions_file, ("question_id", "content")):
        if isinstance(row, LineError):
            yield _fail(spec, f"{spec.name}:question:{number}", f"{questions_file}:{number}", row)
            continue
        questions[row["question_id"]] = row["content"]
    pairs: set[tuple[str, str]] | None = None
    if candidates_name:
        pairs = set()
        candidates_file = root / candidates_name
        for number, row in _csv_rows(spec, candidates_file, ("question_id",)):
            if isinstance(row, LineError):
                yield _fail(spec, f"{spec.name}:cand:{number}", f"{candidates_file}:{number}", row)
                continue
            if "pos_ans_id" in row:
                pairs.add((row["question_id"], row["pos_ans_id"]))
            elif row.get("label") == "1":
                pairs.add((row["question_id"], row["ans_id"]))
    seen: set[tuple[str, str]] = set()  # ids come from the file here, not from line numbers
    for number, row in _csv_rows(spec, answers_file, ("ans_id", "question_id", "content")):
        where = f"{answers_file}:{number}"
        if isinstance(row, LineError):
            yield _fail(spec, f"{spec.name}:answer:{number}", where, row)
            continue
        qid, aid = row["question_id"], row["ans_id"]
        if pairs is not None and (qid, aid) not in pairs:
            continue
        rid = f"{spec.name}:{qid}:{aid}"
        try:
            if (qid, aid) in seen:
                rid = f"{spec.name}:answer:{number}"
                raise LineError("duplicate_id", f"answer {aid} of question {qid} appears twice")
            seen.add((qid, aid))
            if qid not in questions:
                raise LineError("missing_field", f"question_id {qid} not in {questions_file.name}")
            meta = {"question_id": qid, "ans_id": aid}
            yield make_record(
                rid, spec.name, spec.task or "qa", questions[qid], row["content"], spec.lang, meta
            )
        except LineError as err:
            yield _fail(spec, rid, where, err)


READERS: dict[str, Reader] = {
    "taiyi": read_taiyi,
    "instruction": read_instruction,
    "coig_cqia": read_coig,
    "icliniq": read_icliniq,
    "self_cognition": read_self_cognition,
    "webmedqa": read_webmedqa,
    "cmedqa2": read_cmedqa2,
}


def read_source(spec: SourceSpec, reader: str) -> Iterator[Item]:
    """Stream the canonical records (and, under on_error=skip, BadLines) of one source."""
    if reader not in READERS:
        raise BioqwenError(
            f"data.mix.sources.{spec.name}.reader={reader!r}: unknown reader; "
            f"known: {', '.join(sorted(READERS))}"
        )
    if not spec.path.exists():
        raise BioqwenError(
            f"data.mix.sources.{spec.name}.path: {spec.path} does not exist "
            "(full-size data: download it and set data.root; see samples/README.md)"
        )
    return READERS[reader](spec)
