"""Readers: one per raw format, each turning its source into canonical records.

The JSON formats live here (Taiyi, instruction data such as MedChatZH, COIG-CQIA, iCliniq,
self-cognition: JSON Lines or one JSON array, a file or a directory of files), the tabular QA
corpora in qa_corpora.py; what they yield (records, counted `Unused` items, `BadLine`s) is
described in records.py. Readers stream line by line where the format allows (the full JSONL
files are gigabytes). A source that yields no record at all is an error naming its path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bioqwen.data.qa_corpora import read_cmedqa2, read_webmedqa
from bioqwen.data.records import (
    BadLine,
    Item,
    LineError,
    Reader,
    Record,
    SourceSpec,
    Unused,
    crlf_to_lf,
    field_of,
    join_prompt,
    json_items,
    make_record,
)
from bioqwen.errors import BioqwenError

__all__ = ["BadLine", "Item", "Record", "SourceSpec", "Unused", "crlf_to_lf", "read_source"]

# Taiyi categories -> canonical task names (others are lower-cased, e.g. TC -> tc).
TAIYI_TASKS = {"NER": "ner", "RE": "re", "MT-zh2en": "mt", "MT-en2zh": "mt"}
# The first `"category": "..."` of a raw Taiyi line: the top-level key (it precedes the
# conversation, and quotes inside texts are escaped), read without parsing the line.
_TAIYI_CATEGORY = re.compile(rb'"category"\s*:\s*"([^"\\]*)"')


def taiyi_task(category: str) -> str:
    """The canonical task of a Taiyi category."""
    return TAIYI_TASKS.get(category, category.lower())


def read_taiyi(spec: SourceSpec) -> Iterator[Item]:
    """Taiyi instruction JSONL: {conversation_id, dataset, category, language, conversation}.

    The authors trained on the first turn only (script_stage2.filter_fields): each later turn
    is counted as `later_turn` (options.turns=all keeps them). A line whose category the mix
    does not keep is counted as `category_not_selected` from a cheap look at its raw bytes,
    without the full JSON parse (most of the full file is out of scope).
    """
    all_turns = spec.options.get("turns", "first") == "all"

    def peek(raw: bytes, rid: str) -> Unused | None:
        if spec.categories is None or not spec.options.get("precheck", True):
            return None
        found = _TAIYI_CATEGORY.search(raw)
        if found is None:
            return None
        category = found.group(1).decode("utf-8", "replace")
        if category in spec.categories:
            return None  # parsed in full; the category filter confirms it
        return Unused(rid, spec.task or taiyi_task(category), "category_not_selected")

    def parse(obj: Any, rid: str) -> list[Item]:
        category = field_of(obj, "category")
        task = spec.task or taiyi_task(category)
        turns = field_of(obj, "conversation", list)
        if not turns:
            raise LineError("empty_answer", "empty conversation")
        kept = turns if all_turns else turns[:1]
        messages: list[dict[str, str]] = []
        for turn in kept:
            human, assistant = field_of(turn, "human"), field_of(turn, "assistant")
            messages.extend(make_record(rid, spec.name, task, human, assistant)["messages"])
        meta = {
            "category": category,
            "dataset": obj.get("dataset"),
            "language": obj.get("language"),
            "conversation_id": obj.get("conversation_id"),
        }
        record = {
            "id": rid,
            "source": spec.name,
            "task": task,
            "lang": spec.lang,
            "messages": messages,
            "meta": meta,
        }
        later = [Unused(f"{rid}:turn{k}", task, "later_turn") for k in range(2, len(turns) + 1)]
        return [record, *(later if not all_turns else [])]

    return json_items(spec, parse, peek)


def read_instruction(spec: SourceSpec) -> Iterator[Item]:
    """Instruction data {instruction, input, output} (MedChatZH, Alpaca-style): JSON Lines or
    one JSON array."""

    def parse(obj: Any, rid: str) -> Record:
        prompt = join_prompt(field_of(obj, "instruction"), field_of(obj, "input"))
        return make_record(
            rid, spec.name, spec.task or "qa", prompt, field_of(obj, "output"), spec.lang
        )

    return json_items(spec, parse)


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

    return json_items(spec, parse)


def read_icliniq(spec: SourceSpec) -> Iterator[Item]:
    """iCliniq JSON [{input, answer_icliniq, answer_chatgpt, answer_chatdoctor}] (doctors)."""
    answer_key = spec.options.get("answer_field", "answer_icliniq")

    def parse(obj: Any, rid: str) -> Record:
        prompt, answer = field_of(obj, "input"), field_of(obj, answer_key)
        return make_record(rid, spec.name, spec.task or "qa", prompt, answer, spec.lang)

    return json_items(spec, parse)


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
        task = spec.task or "self_cognition"
        return make_record(
            rid, spec.name, task, fill(prompt), fill(field_of(obj, "output")), spec.lang
        )

    return json_items(spec, parse)


READERS: dict[str, Reader] = {
    "taiyi": read_taiyi,
    "instruction": read_instruction,
    "coig_cqia": read_coig,
    "icliniq": read_icliniq,
    "self_cognition": read_self_cognition,
    "webmedqa": read_webmedqa,
    "cmedqa2": read_cmedqa2,
}


def check_source(spec: SourceSpec, reader: str) -> None:
    """Fail early on an unknown reader name or a missing path, naming the key."""
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


def read_source(spec: SourceSpec, reader: str) -> Iterator[Item]:
    """Stream the items of one source: records, counted Unused items and (on_error=skip)
    BadLines; a source that yields no record at all is an error naming its path."""
    check_source(spec, reader)
    return _counted(spec, reader)


def _counted(spec: SourceSpec, reader: str) -> Iterator[Item]:
    records = 0
    for item in READERS[reader](spec):
        records += isinstance(item, dict)
        yield item
    if records == 0:
        raise BioqwenError(
            f"{spec.path}: no records read (source {spec.name!r}, reader {reader!r}): "
            "an empty file, or every line unusable (see data.on_error)"
        )
