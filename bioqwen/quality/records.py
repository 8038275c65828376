"""The records a quality step looks at, their texts, and tokenization that names a bad record."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from bioqwen.data.clean import filter_category, prompt_of
from bioqwen.data.sources import Record, SourceSpec, read_source
from bioqwen.errors import BioqwenError

CHUNK = 512


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_records(
    data: Mapping[str, Any], keep: Callable[[Mapping[str, Any]], bool]
) -> list[Record]:
    """Canonical records of the mix's sources for which keep(source config) holds.

    Bad lines raise (data.on_error=raise) or are left out (skip), as in `prepare`.
    """
    records: list[Record] = []
    for name, src in data["mix"]["sources"].items():
        if not keep(src):
            continue
        path = Path(src["path"]).expanduser().resolve()
        spec = SourceSpec(
            name, path, src.get("task"), src.get("lang"), src.get("options") or {}, data["on_error"]
        )
        records.extend(item for item in read_source(spec, src["reader"]) if isinstance(item, dict))
    return records


def scored_records(data: Mapping[str, Any]) -> list[Record]:
    """Records of the sources prepare filters by reward score (`quality: true`)."""
    records = read_records(data, lambda src: bool(src.get("quality")))
    if not records:
        raise BioqwenError(
            f"data/mix={data['mix'].get('name')}: no source has quality: true, nothing to score"
        )
    return records


def comprehension_records(data: Mapping[str, Any], tasks: Sequence[str]) -> list[Record]:
    """Unscored records of the given tasks, after the category filter prepare applies."""
    records = read_records(data, lambda src: not src.get("quality"))
    category = data["filters"]["category"]
    if category["enabled"]:
        records, _ = filter_category(records, category["keep"])
    return [r for r in records if r["task"] in set(tasks)]


def response_of(record: Record) -> str:
    """The assistant side of a conversation (every assistant turn, joined)."""
    return "\n".join(m["content"] for m in record["messages"] if m["role"] == "assistant")


def fill(template: str, record: Record, key: str) -> str:
    """The template with {query} and {response} taken from the record (config key for errors)."""
    try:
        return template.format(query=prompt_of(record), response=response_of(record))
    except (KeyError, IndexError, ValueError) as err:
        raise BioqwenError(
            f"{key}={template!r}: only {{query}} and {{response}} may appear ({err!r})"
        ) from err


def encode(
    tokenizer: Any, ids: Sequence[str], texts: Sequence[str], what: str, **kwargs: Any
) -> list[list[int]]:
    """Token ids of each text; a text the tokenizer cannot encode raises naming its record."""
    try:
        return list(tokenizer(list(texts), **kwargs)["input_ids"])
    except Exception:
        pass
    out = []
    for rid, text in zip(ids, texts, strict=True):
        try:
            out.append(list(tokenizer(text, **kwargs)["input_ids"]))
        except Exception as err:
            raise BioqwenError(f"record {rid}: {what} cannot encode it: {err}") from err
    return out


def lengths(
    tokenizer: Any, ids: Sequence[str], texts: Sequence[str], what: str, **kwargs: Any
) -> list[int]:
    """Token count of each text (in chunks, so memory stays flat), naming a record that fails."""
    counts: list[int] = []
    iterator = iter(zip(ids, texts, strict=True))
    while chunk := list(islice(iterator, CHUNK)):
        chunk_ids, chunk_texts = zip(*chunk, strict=True)
        counts.extend(len(x) for x in encode(tokenizer, chunk_ids, chunk_texts, what, **kwargs))
    return counts


def token_counts(records: Sequence[Record], variant: str) -> dict[str, int]:
    """Real Qwen tokens of each record's question and answer (what the table counts)."""
    from bioqwen.data.tokenizer import load_qwen_tokenizer

    ids = [r["id"] for r in records]
    texts = [f"{prompt_of(r)}\n{response_of(r)}" for r in records]
    counts = lengths(
        load_qwen_tokenizer(variant), ids, texts, "the Qwen tokenizer", add_special_tokens=False
    )
    return dict(zip(ids, counts, strict=True))
