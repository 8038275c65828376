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

import numpy as np

from bioqwen.checkout import in_checkout
from bioqwen.errors import BioqwenError
from bioqwen.eval import bootstrap, gold, language, ner, qa

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
    bench = gold.load_benchmark({**cfg, "limit": None, "questions_from": None}, splits)
    index: dict[str, gold.NerDocument] = {}
    for doc in bench.items:
        for mode in ("abstract", "title_abstract"):
            index.setdefault(doc.input_text(mode).strip(), doc)
    return index


@dataclass
class Scored:
    """Metrics of a predictions set, its per-row records, and what the bootstrap resamples:
    `statistic(indices)` gives the metrics of a subset of the `units` (questions or documents)."""

    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    statistic: bootstrap.Statistic
    units: list[str]


def score_qa_rows(rows: Sequence[PredictionRow], cfg: Mapping[str, Any]) -> dict[str, float]:
    """QA metrics (character level; word level too when benchmark.word_level) + fidelity."""
    return qa_scored(rows, cfg).metrics


def qa_scored(rows: Sequence[PredictionRow], cfg: Mapping[str, Any]) -> Scored:
    """QA metrics, per-row scores (x100, as metrics.json) and the per-question statistic."""
    hyps = [r.response for r in rows]
    refs = [r.answer for r in rows]
    metrics = qa.score_qa(hyps, refs, "char")
    if cfg["word_level"]:
        metrics.update({f"word/{k}": v for k, v in qa.score_qa(hyps, refs, "word").items()})
    metrics["n_samples"] = float(len(rows))
    metrics["n_duplicates"] = float(len(rows) - len({r.prompt.strip() for r in rows}))
    metrics.update(language.fidelity_metrics(hyps, str(cfg["lang"])))
    pairs = [qa.score_pair(h, r).values for h, r in zip(hyps, refs, strict=True)]
    per_row = [
        {
            "row": r.line,
            "prompt": r.prompt,
            "scores": {k: 100 * v for k, v in zip(qa.QA_KEYS, values, strict=True)},
        }
        for r, values in zip(rows, pairs, strict=True)
    ]
    array = np.array(pairs, dtype=float).reshape(len(rows), len(qa.QA_KEYS))
    statistic = bootstrap.mean_statistic(array, list(qa.QA_KEYS), scale=100.0)
    return Scored(metrics, per_row, statistic, [r.prompt.strip() for r in rows])


def join_ner(
    rows: Sequence[PredictionRow], cfg: Mapping[str, Any], source: str | Path
) -> list[NerScored]:
    """Match each NER row to its gold document and parse its response; a repeated prompt is
    scored once (`ner_summary` counts the repeats)."""
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


def _ner_statistic(counts: np.ndarray, types: list[str]) -> bootstrap.Statistic:
    """NER metrics of a subset of documents from their (documents, types, tp/fp/fn) counts."""

    def statistic(idx: np.ndarray) -> dict[str, float]:
        total = counts[idx].sum(axis=0)
        summed = {t: ner.TypeCounts(*(int(x) for x in total[j])) for j, t in enumerate(types)}
        return ner.ner_metrics([summed], types)

    return statistic


def ner_summary(scored: Sequence[NerScored], cfg: Mapping[str, Any]) -> dict[str, float]:
    """NER metrics over matched rows: per type P/R/F1, macro F1, balanced accuracy, rates."""
    return ner_scored(scored, cfg).metrics


def ner_scored(scored: Sequence[NerScored], cfg: Mapping[str, Any], repeats: int = 0) -> Scored:
    """NER metrics over matched rows (all splits, and per split beside them: Taiyi's training
    data holds NCBI and BC5CDR training documents), per-row counts, the per-document statistic."""
    types = gold.entity_types(cfg)
    counts = [ner.count_document(s.document.gold, s.entities, types) for s in scored]
    metrics = ner.ner_metrics(counts, types)
    n = len(scored)
    metrics["n_documents"] = float(n)
    metrics["n_duplicates"] = float(repeats)
    metrics["unparsable_rate"] = sum(not s.parsable for s in scored) / n if n else 0.0
    metrics.update(language.fidelity_metrics([s.row.response for s in scored], str(cfg["lang"])))
    splits = sorted({s.document.split for s in scored})
    if len(splits) > 1:
        for split in splits:
            subset = [c for c, s in zip(counts, scored, strict=True) if s.document.split == split]
            metrics[f"split/{split}/n_documents"] = float(len(subset))
            for key, value in ner.ner_metrics(subset, types).items():
                metrics[f"split/{split}/{key}"] = value
    per_row = [
        {
            "row": s.row.line,
            "prompt": s.row.prompt,
            "document": s.document.id,
            "split": s.document.split,
            "counts": {t: vars(c[t]) for t in types},
        }
        for s, c in zip(scored, counts, strict=True)
    ]
    array = np.array([[[c[t].tp, c[t].fp, c[t].fn] for t in types] for c in counts])
    array = array.reshape(n, len(types), 3)
    return Scored(metrics, per_row, _ner_statistic(array, types), [s.document.id for s in scored])


def check_qa_answers(rows: Sequence[PredictionRow], cfg: Mapping[str, Any], path: Path) -> None:
    """A QA file's `answer` column must be the benchmark's gold answer of each question, when
    that gold is available (a file for another benchmark, or edited answers, is an error)."""
    try:
        splits = gold.available_splits(cfg)
    except BioqwenError:
        return  # no gold here (cMedQA2 texts are not shipped): the file's answers are used
    answers = {
        item.question.strip(): item.answer.strip()
        for item in gold.load_benchmark(
            {**cfg, "limit": None, "questions_from": None}, splits
        ).items
    }
    for row in rows:
        expected = answers.get(row.prompt.strip())
        if expected is None:
            raise BioqwenError(
                f"{path}:{row.line}: question not in the gold of benchmark {cfg['name']!r} "
                f"({in_checkout(cfg['data_dir'])}): {row.prompt.strip()[:80]!r}"
            )
        if row.answer.strip() != expected:
            raise BioqwenError(
                f"{path}:{row.line}: the answer column differs from benchmark "
                f"{cfg['name']!r}'s gold answer to this question"
            )


def score_predictions(path: str | Path, cfg: Mapping[str, Any]) -> Scored:
    """Score a predictions file in the authors' format: metrics, per-row records, statistic."""
    task = str(cfg["task"])
    if task not in ("qa", "ner"):
        raise BioqwenError(f"benchmark.task={task!r}: expected ner or qa")
    rows = read_predictions(path, task)
    if task == "qa":
        check_qa_answers(rows, cfg, Path(path))
        return qa_scored(rows, cfg)
    scored = join_ner(rows, cfg, path)
    return ner_scored(scored, cfg, repeats=len(rows) - len(scored))


def score_file(path: str | Path, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Score a predictions file in the authors' format for the configured benchmark."""
    return score_predictions(path, cfg).metrics
