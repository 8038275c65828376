"""Score a predictions file in the authors' format against a benchmark: what `score` runs.

QA files have columns prompt, answer, response; NER files prompt, result, where result is a
Python-literal list of {'type': ..., 'response': [...]}. NER rows are joined to gold by the
stripped prompt text (abstract, title + abstract, or sentence) across every split whose file
is in `benchmark.data_dir`; a prompt without gold is an error naming its line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioqwen.checkout import in_checkout
from bioqwen.errors import BioqwenError
from bioqwen.eval import gold, language, ner, qa

QA_COLUMNS = ("prompt", "answer", "response")
NER_COLUMNS = ("prompt", "result")


@dataclass
class PredictionRow:
    """One row of a predictions file, with its 1-based line number for error messages."""

    line: int
    prompt: str
    response: str
    answer: str = ""


@dataclass
class NerScored:
    """Per-row NER outcome: matched gold document, parsed entities, and parsability."""

    row: PredictionRow
    document: gold.NerDocument
    entities: dict[str, list[str]] = field(default_factory=dict)
    parsable: bool = True


def read_predictions(path: str | Path, task: str) -> list[PredictionRow]:
    """Read a predictions CSV, checking its columns for the task (QA or NER)."""
    path = Path(path)
    if not path.is_file():
        raise BioqwenError(f"predictions file not found: {path}")
    required = QA_COLUMNS if task == "qa" else NER_COLUMNS
    # An empty cell is an empty response (scores zero), never a crash.
    rows = [
        PredictionRow(line, row["prompt"], row[required[-1]], row.get("answer", ""))
        for line, row in gold.csv_rows(path, required)
    ]
    if not rows:
        raise BioqwenError(f"{path}: no prediction rows")
    return rows


def gold_index(cfg: Mapping[str, Any]) -> dict[str, gold.NerDocument]:
    """Gold NER documents of every split present in data_dir, by stripped prompt text."""
    splits = gold.available_splits(cfg)
    bench = gold.load_benchmark({**cfg, "limit": None}, splits)
    index: dict[str, gold.NerDocument] = {}
    for doc in bench.items:
        for mode in ("abstract", "title_abstract"):
            index.setdefault(doc.input_text(mode).strip(), doc)
    return index


def score_qa_rows(rows: Sequence[PredictionRow], cfg: Mapping[str, Any]) -> dict[str, float]:
    """QA metrics (character level; word level too when benchmark.word_level) + fidelity."""
    hyps = [r.response for r in rows]
    refs = [r.answer for r in rows]
    metrics = qa.score_qa(hyps, refs, "char")
    if cfg["word_level"]:
        metrics.update({f"word/{k}": v for k, v in qa.score_qa(hyps, refs, "word").items()})
    metrics["n_samples"] = float(len(rows))
    metrics.update(language.fidelity_metrics(hyps, str(cfg["lang"])))
    return metrics


def join_ner(
    rows: Sequence[PredictionRow], cfg: Mapping[str, Any], source: str | Path
) -> list[NerScored]:
    """Match each NER row to its gold document and parse its response; repeated prompts once."""
    index = gold_index(cfg)
    types = gold.entity_types(cfg)
    aliases = gold.type_aliases(cfg)
    scored: list[NerScored] = []
    seen: set[str] = set()
    for row in rows:
        key = row.prompt.strip()
        document = index.get(key)
        if document is None:
            excerpt = key[:80] + ("..." if len(key) > 80 else "")
            raise BioqwenError(
                f"{source}:{row.line}: prompt has no gold document in benchmark "
                f"{cfg['name']!r} ({in_checkout(cfg['data_dir'])}): {excerpt!r}"
            )
        if document.id in seen:
            continue
        seen.add(document.id)
        parsed = ner.parse_response(row.response, types, aliases, cfg["entity_separators"])
        scored.append(NerScored(row, document, parsed.entities, parsed.parsable))
    return scored


def ner_summary(scored: Sequence[NerScored], cfg: Mapping[str, Any]) -> dict[str, float]:
    """NER metrics over matched rows: per type P/R/F1, macro F1, balanced accuracy, rates."""
    types = gold.entity_types(cfg)
    counts = [ner.count_document(s.document.gold, s.entities, types) for s in scored]
    metrics = ner.ner_metrics(counts, types)
    n = len(scored)
    metrics["n_documents"] = float(n)
    metrics["unparsable_rate"] = sum(not s.parsable for s in scored) / n if n else 0.0
    metrics.update(language.fidelity_metrics([s.row.response for s in scored], str(cfg["lang"])))
    return metrics


def score_file(path: str | Path, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Score a predictions file in the authors' format for the configured benchmark."""
    task = str(cfg["task"])
    if task not in ("qa", "ner"):
        raise BioqwenError(f"benchmark.task={task!r}: expected ner or qa")
    rows = read_predictions(path, task)
    if task == "qa":
        return score_qa_rows(rows, cfg)
    return ner_summary(join_ner(rows, cfg, path), cfg)
