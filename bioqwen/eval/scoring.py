"""Score a predictions file in the authors' format against a benchmark: what `score` runs.

QA files have columns prompt, answer, response; NER files prompt, result, where result is a
Python-literal list of {'type': ..., 'response': [...]}. NER rows are joined to gold by the
stripped prompt text (abstract, title + abstract, or sentence) across every split whose file
is in `benchmark.data_dir`; a prompt without gold is an error naming its line. A QA file's
answers are checked against the benchmark's gold when its files are there (eval/questions.py).
Every metric can get a bootstrap interval over documents/questions, and two files of the same
items a paired bootstrap p-value per metric (eval/bootstrap.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bioqwen.checkout import in_checkout
from bioqwen.errors import BioqwenError
from bioqwen.eval import bootstrap, gold, language, ner, qa, questions

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
class Scores:
    """Point metrics of a scored file, the per-item statistics behind them, and one record
    per scored row (its prompt and scores, or per-type TP/FP/FN, on metrics.json's scale)."""

    metrics: dict[str, float]
    sample: bootstrap.Sample
    rows: list[dict[str, Any]] = field(default_factory=list)


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


def _unique_keys(texts: Sequence[str]) -> list[str]:
    """Item keys for pairing two files: the text, with `#k` on its k-th repeat."""
    seen: Counter[str] = Counter()
    keys = []
    for text in texts:
        keys.append(text if not seen[text] else f"{text}#{seen[text]}")
        seen[text] += 1
    return keys


def score_qa_rows(rows: Sequence[PredictionRow], cfg: Mapping[str, Any]) -> Scores:
    """QA metrics (character level; word level too when benchmark.word_level) + fidelity."""
    hyps = [r.response for r in rows]
    refs = [r.answer for r in rows]
    metrics: dict[str, float] = {}
    columns: dict[str, np.ndarray] = {}
    for tokens, prefix in (("char", ""), ("word", "word/"))[: 2 if cfg["word_level"] else 1]:
        items = qa.score_items(hyps, refs, tokens)
        metrics.update({prefix + k: v for k, v in qa.mean_scores(items).items()})
        values = np.array([s.values for s in items], dtype=float).reshape(len(items), -1)
        columns.update({prefix + k: 100.0 * values[:, i] for i, k in enumerate(qa.QA_KEYS)})
    metrics["n_samples"] = float(len(rows))
    metrics["n_duplicates"] = float(len(rows) - len({r.prompt.strip() for r in rows}))
    metrics.update(language.fidelity_metrics(hyps, str(cfg["lang"])))
    columns.update(language.fidelity_columns(hyps, str(cfg["lang"])))
    keys = _unique_keys([r.prompt.strip() for r in rows])
    # Every per-question column (word level and fidelity too): each one's mean is its metric.
    per_row = [
        {"row": r.line, "prompt": r.prompt, "scores": {k: float(v[i]) for k, v in columns.items()}}
        for i, r in enumerate(rows)
    ]
    return Scores(metrics, bootstrap.Sample(keys, columns, bootstrap.means()), per_row)


def join_ner(
    rows: Sequence[PredictionRow], cfg: Mapping[str, Any], source: str | Path
) -> list[NerScored]:
    """Match each NER row to its gold document and parse its response; a repeated prompt is
    scored once (`ner_summary` counts the repeats)."""
    index = questions.gold_index(cfg)
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


def ner_summary(scored: Sequence[NerScored], cfg: Mapping[str, Any], repeats: int = 0) -> Scores:
    """NER metrics over matched rows: per type P/R/F1, macro F1, balanced accuracy, rates; over
    all splits, and per split beside them (Taiyi's training data holds NCBI and BC5CDR training
    documents); `repeats` rows repeated a scored prompt."""
    types = gold.entity_types(cfg)
    counts = [ner.count_document(s.document.gold, s.entities, types) for s in scored]
    metrics = ner.ner_metrics(counts, types)
    n = len(scored)
    metrics["n_documents"] = float(n)
    metrics["n_duplicates"] = float(repeats)
    metrics["unparsable_rate"] = sum(not s.parsable for s in scored) / n if n else 0.0
    responses = [s.row.response for s in scored]
    metrics.update(language.fidelity_metrics(responses, str(cfg["lang"])))
    splits = sorted({s.document.split for s in scored})
    if len(splits) > 1:
        for split in splits:
            subset = [c for c, s in zip(counts, scored, strict=True) if s.document.split == split]
            metrics[f"split/{split}/n_documents"] = float(len(subset))
            for key, value in ner.ner_metrics(subset, types).items():
                metrics[f"split/{split}/{key}"] = value
    # Per-document sufficient statistics: what a bootstrap resample sums.
    columns = {
        f"{c}/{t}": np.array([float(getattr(doc[t], c)) for doc in counts])
        for t in types
        for c in ("tp", "fp", "fn")
    }
    columns["unparsable_rate"] = np.array([float(not s.parsable) for s in scored])
    columns.update(language.fidelity_columns(responses, str(cfg["lang"])))
    keys = [s.document.id for s in scored]
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
    sample = bootstrap.Sample(keys, columns, bootstrap.ner_statistic(types))
    return Scores(metrics, sample, per_row)


def score_sample(path: str | Path, cfg: Mapping[str, Any]) -> Scores:
    """Score a predictions file in the authors' format (QA answers checked against the gold)."""
    task = str(cfg["task"])
    if task not in ("qa", "ner"):
        raise BioqwenError(f"benchmark.task={task!r}: expected ner or qa")
    rows = read_predictions(path, task)
    if task == "qa":
        questions.check_answers([(r.line, r.prompt, r.answer) for r in rows], cfg, path)
        return score_qa_rows(rows, cfg)
    scored = join_ner(rows, cfg, path)
    return ner_summary(scored, cfg, repeats=len(rows) - len(scored))


def with_intervals(scores: Scores, resampling: Mapping[str, Any] | None) -> dict[str, float]:
    """The metrics plus `<metric>/ci_low|ci_high` when resampling (conf/bootstrap) is given."""
    if resampling is None:
        return dict(scores.metrics)
    return {
        **scores.metrics,
        **bootstrap.intervals(
            scores.sample,
            int(resampling["resamples"]),
            float(resampling["confidence"]),
            int(resampling["seed"]),
        ),
    }


def score_report(
    path: str | Path,
    cfg: Mapping[str, Any],
    resampling: Mapping[str, Any] | None = None,
    compare: str | Path | None = None,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score a predictions file for the configured benchmark: its metrics and per-row records.
    With `resampling`, bootstrap intervals; with `compare` (another predictions file of the
    same items), its metrics as `compare/<metric>` and paired p-values as `<metric>/p_value`."""
    scores = score_sample(path, cfg)
    metrics = with_intervals(scores, resampling)
    if compare is None:
        return metrics, scores.rows
    if resampling is None:
        raise ValueError("compare needs resampling settings (conf/bootstrap)")
    other = score_sample(compare, cfg)
    aligned = bootstrap.align(scores.sample, other.sample, (str(path), str(compare)))
    metrics.update({f"compare/{k}": v for k, v in other.metrics.items()})
    metrics.update(
        bootstrap.paired_p_values(
            scores.sample, aligned, int(resampling["resamples"]), int(resampling["seed"])
        )
    )
    return metrics, scores.rows


def score_file(
    path: str | Path,
    cfg: Mapping[str, Any],
    resampling: Mapping[str, Any] | None = None,
    compare: str | Path | None = None,
) -> dict[str, float]:
    """The metrics of `score_report` (intervals, comparison) without the per-row records."""
    return score_report(path, cfg, resampling, compare)[0]
