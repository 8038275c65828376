"""NER: turn free-text responses into {type: [entities]} and score them the paper's way.

Scoring recipe (reproduces the paper's F1 cells from the authors' released predictions): for
each document and type, the set of gold mention strings against the set of predicted strings,
exact and case-sensitive, predictions taken raw (a placeholder answer such as 'None' is a
false positive); TP/FP/FN summed over documents; per-type precision, recall and F1; macro F1
is the mean of per-type F1; balanced accuracy is the mean over types of TP / (TP + FN), the
paper's written formula (no formula reproduces its accuracy columns, see PAPER.md).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bioqwen.config import EntitySeparators
from bioqwen.errors import BioqwenError
from bioqwen.runs import parse_json

# Entity separators, tried in this order, the first one present wins: Taiyi answers separate
# with '; ' and keep '、' and ', ' inside an entity ('足底、足背贯通性溃疡', 33 CMeEE disease
# mentions have one); then '、' (Chinese lists); then a comma followed by a space or the
# full-width '，' ('2,4-D' stays one chemical). Under the `response` policy (the default) the
# separator is chosen once for the whole response, so a line holding one entity that contains
# '、' is not split when the response separates with ';' elsewhere; `line` decides per line.
_SEPARATORS = (
    re.compile(r"\s*(?:;|；|\|)\s*"),
    re.compile(r"\s*、\s*"),
    re.compile(r"\s*(?:,\s+|，)\s*"),
)
# 'Type: a; b', also bulleted or numbered, with markdown bold around the label or the colon.
_TYPE_LINE = re.compile(
    r"^\s*(?:(?:[-*•]|\d+[.)、])\s*)?\**(?P<label>[^:：\n]{1,40}?)\**\s*[:：]\s*\**\s*(?P<rest>.*)$"
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)、])\s*(?P<item>.+)$")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_BRACKET = re.compile(r"[\[\]()]")
# The conjunction before a list's last item ('breast, ovary, and colon'; '肝、肾和脾' is not
# split on 和, but 'A、及B' leaves '及B').
_LEADING_AND = re.compile(r"^(?:and\s+|和|及)(?=\S)")
SEPARATOR_POLICIES = tuple(policy.value for policy in EntitySeparators)
_QUOTES = "\"'“”‘’「」『』《》`*"  # and markdown bold residue


@dataclass
class Parsed:
    """Entities of one response by type, and whether any structure was recognised."""

    entities: dict[str, list[str]] = field(default_factory=dict)
    parsable: bool = True


@dataclass
class TypeCounts:
    """True positives, false positives and false negatives of one entity type."""

    tp: int = 0
    fp: int = 0
    fn: int = 0


def _clean(entity: str) -> str:
    """Strip whitespace, enclosing brackets and quotes that are parsing residue, not content."""
    text = entity.strip()
    # Only a pair that encloses everything: '(E)-stilbene (STB)' keeps its brackets.
    while (
        len(text) >= 2 and text[0] in "[(" and text[-1] in "])" and not _BRACKET.search(text[1:-1])
    ):
        text = text[1:-1].strip()
    return _LEADING_AND.sub("", text.strip(_QUOTES).strip()).strip()


def strongest_separator(text: str) -> re.Pattern[str] | None:
    """The strongest separator present in text (';' > '、' > ', '), None when there is none."""
    return next((s for s in _SEPARATORS if s.search(text)), None)


_PER_LINE = re.compile("")  # sentinel: choose the separator per line


def split_entities(text: str, separator: re.Pattern[str] | None = _PER_LINE) -> list[str]:
    """Split a line of entities on `separator` (default: the line's strongest) and clean them."""
    body = text.strip()
    if len(body) >= 2 and body[0] == "[" and body[-1] == "]":
        body = body[1:-1]
    if separator is _PER_LINE:
        separator = strongest_separator(body)
    parts = separator.split(body) if separator else [body]
    return [c for c in (_clean(p) for p in parts) if c]


def _label_index(types: Sequence[str], aliases: Mapping[str, str]) -> dict[str, str]:
    index = {t.casefold(): t for t in types}
    for t in types:
        index.setdefault(t.casefold() + "s", t)  # "Diseases:" as a label
    for alias, target in aliases.items():
        if target in types:
            index[str(alias).casefold()] = target
    return index


def _resolve(label: str, index: Mapping[str, str]) -> str | None:
    key = label.strip().strip(_QUOTES).strip().casefold()
    key = re.sub(r"\s*(entities|entity|实体|名称)$", "", key) or key
    return index.get(key) or index.get(key.rstrip("s"))


def _add(out: dict[str, list[str]], label: str | None, values: Iterable[str]) -> None:
    if label is None:
        return
    bucket = out.setdefault(label, [])
    bucket.extend(v for v in values if v not in bucket)


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return split_entities(value)
    if isinstance(value, list | tuple | set):
        items: list[str] = []
        for item in value:
            if isinstance(item, str):
                items.append(item)  # raw, as the recipe scores it: no stripping or filtering
            elif isinstance(item, Mapping):
                items.extend(_values(item.get("entity") or item.get("text") or item.get("name")))
            elif item is not None:
                items.append(str(item))
        return items
    return [str(value)]


def _from_structure(
    obj: Any, index: Mapping[str, str], types: Sequence[str]
) -> dict[str, list[str]] | None:
    """Entities from a decoded JSON / Python literal: a {type: [...]} dict, a list of records,
    or (for a benchmark with one type) a plain list of strings."""
    out: dict[str, list[str]] = {}
    if isinstance(obj, Mapping):
        if "type" in obj and ("response" in obj or "entities" in obj or "entity" in obj):
            return _from_structure([obj], index, types)
        for label, value in obj.items():
            _add(out, _resolve(str(label), index), _values(value))
        return out
    if isinstance(obj, list) and obj and all(isinstance(item, Mapping) for item in obj):
        for item in obj:
            label = item.get("type") or item.get("label") or item.get("entity_type")
            value = item.get("response", item.get("entities", item.get("entity")))
            _add(out, _resolve(str(label), index) if label is not None else None, _values(value))
        return out
    if isinstance(obj, list) and all(isinstance(i, str) for i in obj):
        if not obj:
            return {}  # '[]': no entities
        if len(types) == 1:
            return {types[0]: _values(obj)}
    return None


def _decode(text: str) -> Any:
    for decode in (parse_json, ast.literal_eval):
        try:
            return decode(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def parse_response(
    response: str,
    types: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    separators: str = "response",
) -> Parsed:
    """Parse a model response (JSON, Python literal, 'Type: a; b' lines, bullets) by type.

    Labels are matched to `types` case-insensitively or through `aliases` (e.g. 疾病 -> Disease);
    lines under labels that are not scored are ignored. Bullet lists with no label belong to
    the only type when the benchmark has one. A response in which no scored label (or bullet
    of the single type) is found — prose, an empty string — is unparsable and predicts nothing.
    `separators` is the policy: `response` (one separator for the whole response) or `line`.
    """
    if separators not in SEPARATOR_POLICIES:
        raise BioqwenError(
            f"benchmark.entity_separators={separators!r}: expected one of {SEPARATOR_POLICIES}"
        )
    index = _label_index(types, aliases or {})
    text = _FENCE.sub("", response.strip())
    if not text:
        return Parsed({}, parsable=False)
    if text[0] in "[{":
        decoded = _decode(text)
        structured = _from_structure(decoded, index, types) if decoded is not None else None
        if structured is not None:
            return Parsed(structured)
    separator = strongest_separator(text) if separators == "response" else _PER_LINE
    out: dict[str, list[str]] = {}
    recognised = False
    current: str | None = types[0] if len(types) == 1 else None
    for line in text.splitlines():
        bullet = _BULLET.match(line)
        typed = _TYPE_LINE.match(line)
        if typed:
            label = _resolve(typed["label"], index)
            if label is not None:
                recognised = True
                current = label
                # A closing sentence period is not part of the last entity.
                rest = typed["rest"].rstrip().rstrip(".。")
                _add(out, label, split_entities(rest, separator))
                continue
            if not bullet:
                # A section for a type that is not scored: its bullets must not leak into ours.
                current = None
                continue
        if bullet and current is not None:
            recognised = True
            _add(out, current, split_entities(bullet["item"], separator))
    return Parsed(out, parsable=recognised)


def authors_result(entities: Mapping[str, Sequence[str]], types: Sequence[str]) -> str:
    """The authors' `result` cell: a Python-literal list of {'type': t, 'response': [...]}."""
    return repr([{"type": t, "response": list(entities.get(t, []))} for t in types])


def count_document(
    gold: Mapping[str, set[str]], predicted: Mapping[str, Sequence[str]], types: Sequence[str]
) -> dict[str, TypeCounts]:
    """TP/FP/FN of one document per type: predicted string set against gold string set."""
    counts: dict[str, TypeCounts] = {}
    for t in types:
        g = set(gold.get(t, set()))
        p = set(predicted.get(t, []))
        counts[t] = TypeCounts(tp=len(g & p), fp=len(p - g), fn=len(g - p))
    return counts


def ner_metrics(
    per_document: Sequence[Mapping[str, TypeCounts]], types: Sequence[str]
) -> dict[str, float]:
    """Per-type precision/recall/F1, macro F1 and balanced accuracy from per-document counts."""
    totals = {t: TypeCounts() for t in types}
    for doc in per_document:
        for t in types:
            c = doc.get(t)
            if c is not None:
                totals[t].tp += c.tp
                totals[t].fp += c.fp
                totals[t].fn += c.fn
    metrics: dict[str, float] = {}
    recalls: list[float] = []
    f1s: list[float] = []
    for t in types:
        c = totals[t]
        precision = c.tp / (c.tp + c.fp) if c.tp + c.fp else 0.0
        recall = c.tp / (c.tp + c.fn) if c.tp + c.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics[f"precision/{t}"] = precision
        metrics[f"recall/{t}"] = recall
        metrics[f"f1/{t}"] = f1
        recalls.append(recall)
        f1s.append(f1)
    metrics["macro_f1"] = sum(f1s) / len(f1s) if f1s else 0.0
    metrics["balanced_accuracy"] = sum(recalls) / len(recalls) if recalls else 0.0
    return metrics
