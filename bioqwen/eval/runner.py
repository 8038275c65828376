"""Evaluate one model on one benchmark: prompts -> generation -> parsed predictions -> metrics.

What `bioqwen evaluate` runs, kept out of the job module so a training callback or a notebook
can call it on a loaded model. Predictions are returned in the authors' CSV format (so that
`bioqwen score` re-scores them to the same numbers) and as JSONL records with the prompt, raw
response, parsed entities and timings. The CSV holds parsed entities, so re-scoring it reports
an unparsable rate of 0; the rate of the raw responses is the one in this run's metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from bioqwen import tabular
from bioqwen.data.language import detect_language
from bioqwen.errors import BioqwenError
from bioqwen.eval import generate, gold, journal, ner, prompts, qa, scoring


@dataclass
class Evaluation:
    """Metrics of one evaluation and its predictions, ready to write."""

    metrics: dict[str, float]
    records: list[dict[str, Any]] = field(default_factory=list)
    csv_text: str = ""
    table_columns: list[str] = field(default_factory=list)
    table_rows: list[list[Any]] = field(default_factory=list)


def _generation_fields(g: generate.Generation) -> dict[str, Any]:
    """What every prediction record says about its generation: timing and language."""
    return {
        "latency_s": g.latency_s,
        "amortized_s": g.latency_s / g.batch_size,
        "batch_size": g.batch_size,
        "new_tokens": g.new_tokens,
        "language": detect_language(g.text),
    }


def check_settings(bench_cfg: Mapping[str, Any], bench: gold.Benchmark) -> None:
    """What would otherwise fail after generation: the prompt template and the NER parsing
    policy, checked on the first item (before a model is loaded or a run directory filled)."""
    if not bench.items:
        raise BioqwenError(f"benchmark {bench.name!r}: no items to evaluate")
    prompts.user_text(bench_cfg, bench.items[0])
    if bench.task == "ner":
        ner.parse_response("", bench.types, {}, bench_cfg["entity_separators"])


def evaluate_model(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    bench_cfg: Mapping[str, Any],
    settings: Mapping[str, Any],
    system_prompts: Mapping[str, str],
    progress: bool = True,
    bench: gold.Benchmark | None = None,
    system_prompt: str | None = prompts.BIOQWEN,
    resampling: Mapping[str, Any] | None = None,
    journal_path: Path | None = None,
) -> Evaluation:
    """Generate for every benchmark item, score, and time (iteration time at batch 1).

    `system_prompt` is the model config's and `system_prompts` the job's data.system_prompts
    (see prompts.system_prompt); `resampling` (conf/bootstrap) adds bootstrap intervals;
    `journal_path` receives each finished batch and, when it already holds batches of an
    interrupted run, they are not generated again.
    """
    if bench is None:
        bench = gold.load_benchmark(bench_cfg)
    if not bench.items:
        raise BioqwenError(f"benchmark {bench.name!r}: no items to evaluate")
    chats = [
        generate.render_prompt(
            tokenizer,
            prompts.messages_for(bench_cfg, item, system_prompt, system_prompts=system_prompts),
        )
        for item in bench.items
    ]
    done: dict[int, generate.Generation] = {}
    on_batch = None
    if journal_path is not None:
        ids = [str(item.id) for item in bench.items]
        done = journal.load(journal_path, ids, chats)
        on_batch = journal.appender(journal_path, ids, chats)
    start = time.perf_counter()
    outputs = generate.generate(
        model, tokenizer, chats, settings, progress=progress, done=done, on_batch=on_batch
    )
    # An interrupted run's batches count with the time they took then.
    wall = time.perf_counter() - start + sum(g.latency_s / g.batch_size for g in done.values())
    batch_size = int(settings["batch_size"])
    n_timed = int(settings["iteration_time_samples"])
    if batch_size == 1:
        batch1 = [g.latency_s for g in outputs]
    elif n_timed > 0:
        batch1 = generate.iteration_times(model, tokenizer, chats[:n_timed], settings)
    else:
        batch1 = []
    timing = generate.timing_summary(outputs, batch1, wall)

    records: list[dict[str, Any]] = []
    if bench.task == "qa":
        rows = [
            scoring.PredictionRow(i + 2, item.question, g.text, item.answer)
            for i, (item, g) in enumerate(zip(bench.items, outputs, strict=True))
        ]
        scores = scoring.score_qa_rows(rows, bench_cfg)
        csv_text = tabular.csv_text(
            scoring.QA_COLUMNS, [[r.prompt, r.answer, r.response] for r in rows]
        )
        for item, g, chat in zip(bench.items, outputs, chats, strict=True):
            one = qa.score_pair(g.text, item.answer)
            records.append(
                {
                    "id": item.id,
                    "prompt": item.question,
                    "chat_prompt": chat,
                    "answer": item.answer,
                    "response": g.text,
                    "scores": dict(zip(qa.QA_KEYS, one.values, strict=True)),
                    **_generation_fields(g),
                }
            )
        columns = ["id", "question", "answer", "response", "rouge-l", "latency_s"]
        table = [
            [
                r["id"],
                r["prompt"],
                r["answer"],
                r["response"],
                r["scores"]["rouge-l"],
                r["latency_s"],
            ]
            for r in records
        ]
    else:
        aliases = gold.type_aliases(bench_cfg)
        scored = []
        csv_rows = []
        mode = str(bench_cfg["input"])
        for i, (doc, g, chat) in enumerate(zip(bench.items, outputs, chats, strict=True)):
            parsed = ner.parse_response(
                g.text, bench.types, aliases, bench_cfg["entity_separators"]
            )
            row = scoring.PredictionRow(i + 2, doc.input_text(mode), g.text)
            scored.append(scoring.NerScored(row, doc, parsed.entities, parsed.parsable))
            csv_rows.append([row.prompt, ner.authors_result(parsed.entities, bench.types)])
            records.append(
                {
                    "id": doc.id,
                    "split": doc.split,
                    "prompt": row.prompt,
                    "chat_prompt": chat,
                    "response": g.text,
                    "entities": {t: parsed.entities.get(t, []) for t in bench.types},
                    "parsable": parsed.parsable,
                    "gold": {t: sorted(doc.gold.get(t, set())) for t in bench.types},
                    **_generation_fields(g),
                }
            )
        scores = scoring.ner_summary(scored, bench_cfg, repeats=bench.duplicates)
        csv_text = tabular.csv_text(scoring.NER_COLUMNS, csv_rows)
        columns = ["id", "text", "response", "parsed", "gold", "latency_s"]
        table = [
            [
                r["id"],
                r["prompt"],
                r["response"],
                json.dumps(r["entities"], ensure_ascii=False),
                json.dumps(r["gold"], ensure_ascii=False),
                r["latency_s"],
            ]
            for r in records
        ]
    # Both scorers already add the language-fidelity keys, from the raw responses.
    metrics = {**scoring.with_intervals(scores, resampling), **timing}
    if done:
        metrics["resumed_rows"] = float(len(done))
    return Evaluation(metrics, records, csv_text, columns, table)
