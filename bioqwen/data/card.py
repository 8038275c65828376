"""The data card: paper Table 1 per task type plus drops by reason, per task and per source.

The pipeline counts as it goes (`Tally`: raw and drops by reason, per source and per task);
`assemble` turns the counts and the kept rows into the card, a JSON-able dict, asserting
raw = kept + dropped per source and per task. Records of categories the mix does not select
(Taiyi's TC, QA_*, MRD, COT, ...) are listed in a separate "not selected" section, outside
the Table 1 rows and total, so the total compares with the paper's. This module also renders
the card as Markdown (with score-data's reward-threshold table for each score file it
filtered with), flattens it into `metrics.json` / W&B summary keys, and logs its tables
to any tracker with `table()` and `summary()` (bioqwen.tracking.Tracker).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bioqwen.data import fetch, thresholds
from bioqwen.runs import atomic_write_json, atomic_write_text
from bioqwen.tabular import markdown_table

# What a reader reads but the mix does not select, reported apart from Table 1 (whose raw
# column counts candidate records, as the paper's): categories outside the mix, Taiyi turns
# after the first, webMedQA negative pairs, cMedQA2 answers outside the candidates split.
NOT_SELECTED = ("category_not_selected", "later_turn", "negative_pair", "not_in_split")
# Cleaning steps and the data.filters switch of each (the card lists the ones that ran).
CLEANING_STEPS = ("category", "medical", "quality", "dedup", "length")
DEDUP_DEPARTURE = (
    " Duplicate removal (dedup) is not in the paper: a departure of this harness "
    "(data.filters.dedup.enabled=false turns it off)."
)

CARD_JSON = "data_card.json"
CARD_MD = "data_card.md"

# Table 1 rows in the paper's order; COIG is the paper's name for the general data.
TASK_LABELS = {
    "ner": "NER",
    "re": "RE",
    "mt": "MT",
    "qa": "QA",
    "general": "COIG",
    "self_cognition": "Self-cognition",
}
TABLE_COLUMNS = ["task", "raw", "cleaned", "ratio (%)", "kept (%)", "tokens (M)", "tokens"]
SOURCE_COLUMNS = ["source", "raw", "kept", "dropped", "truncated", "dropped by reason"]
REASON_COLUMNS = ["task", "reason", "records"]


class TableSink(Protocol):
    """What the card needs from a tracker."""

    def table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None: ...

    def summary(self, metrics: Mapping[str, Any]) -> None: ...


@dataclass
class SourceStats:
    """Counts of one source: raw items, kept rows, their tokens, truncations, drops by reason."""

    raw: int = 0  # records and bad lines read
    dropped: Counter[str] = field(default_factory=Counter)
    # Of the rows kept in the mix:
    kept: int = 0
    tokens: int = 0
    truncated: int = 0


@dataclass
class Tally:
    """Running counts of one prepare, per source and per task type."""

    sources: dict[str, SourceStats]
    task_raw: Counter[str] = field(default_factory=Counter)
    task_drops: dict[str, Counter[str]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def drop(self, source: str, task: str, reason: str) -> None:
        """Count one dropped record."""
        self.sources[source].dropped[reason] += 1
        self.task_drops.setdefault(task, Counter())[reason] += 1


def _tasks(
    rows: Sequence[Mapping[str, Any]], tally: Tally
) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Per task type: raw, cleaned, tokens, drops (the selected records); and per task, what
    was read but not selected, by reason."""
    cleaned: Counter[str] = Counter(r["task"] for r in rows)
    tokens: Counter[str] = Counter()
    for r in rows:
        tokens[r["task"]] += r["n_tokens"]
    tasks: dict[str, Any] = {}
    not_selected: dict[str, dict[str, int]] = {}
    for task in sorted(set(tally.task_raw) | set(cleaned)):
        dropped = Counter(tally.task_drops.get(task, Counter()))
        if tally.task_raw[task] != cleaned[task] + sum(dropped.values()):
            raise AssertionError(f"task {task}: raw != cleaned + dropped")
        outside = {r: dropped.pop(r) for r in NOT_SELECTED if r in dropped}
        unselected = sum(outside.values())
        if outside:
            not_selected[task] = dict(sorted(outside.items()))
        if tally.task_raw[task] > unselected:
            tasks[task] = {
                "raw": tally.task_raw[task] - unselected,
                "cleaned": cleaned[task],
                "tokens": tokens[task],
                "dropped": dict(sorted(dropped.items())),
            }
    return tasks, not_selected


def assemble(
    data: Mapping[str, Any],
    seed: int,
    rows: Sequence[Mapping[str, Any]],
    tally: Tally,
    splits: Mapping[str, int],
) -> dict[str, Any]:
    """The card of a prepared mix, asserting raw = kept + dropped per source and per task."""
    sources = {}
    for name, s in tally.sources.items():
        if s.raw != s.kept + sum(s.dropped.values()):
            raise AssertionError(
                f"source {name}: raw {s.raw} != kept {s.kept} + dropped {sum(s.dropped.values())}"
            )
        sources[name] = {
            "constructed": bool(data["mix"]["sources"][name]["constructed"]),
            "raw": s.raw,
            "kept": s.kept,
            "tokens": s.tokens,
            "truncated": s.truncated,
            "dropped": dict(sorted(s.dropped.items())),
        }
    if len({r["id"] for r in rows}) != len(rows):
        raise AssertionError("record ids are not unique across the mix")
    tasks, not_selected = _tasks(rows, tally)
    all_drops: Counter[str] = Counter()
    for t in tasks.values():
        all_drops.update(t["dropped"])
    filters = data["filters"]
    card = {
        "mix": data["mix"]["name"],
        "seed": seed,
        "tokenizer": data["tokenizer"],
        "max_tokens": data["max_tokens"],
        "cleaning": [step for step in CLEANING_STEPS if filters[step]["enabled"]]
        + (["truncate"] if data["truncate"] else []),
        "tasks": tasks,
        "total": {
            "raw": sum(t["raw"] for t in tasks.values()),
            "cleaned": len(rows),
            "tokens": sum(t["tokens"] for t in tasks.values()),
            "dropped": dict(sorted(all_drops.items())),
        },
        "not_selected": not_selected,
        "sources": sources,
        "splits": dict(splits),
        "skipped": tally.skipped,
    }
    # Sources that `bioqwen fetch-data` downloaded: where from, at which revision, which sha256.
    paths = {name: str(src["path"]) for name, src in data["mix"]["sources"].items()}
    fetched = fetch.fetched_sources(data.get("root", "."), paths)
    if fetched:
        card["fetched"] = fetched
    return card


def task_order(tasks: list[str]) -> list[str]:
    """Paper order first (NER, RE, MT, QA, COIG, self-cognition), then the rest sorted."""
    known = [t for t in TASK_LABELS if t in tasks]
    return known + sorted(t for t in tasks if t not in TASK_LABELS)


def label(task: str) -> str:
    """Display name of a task type (Taiyi categories outside the paper's upper-cased)."""
    return TASK_LABELS.get(task, task.upper())


def table1_rows(card: Mapping[str, Any]) -> list[list[Any]]:
    """Rows of the Table 1 layout (one per task, then the total)."""
    tasks = card["tasks"]
    # The paper's ratio column is each task's share of the cleaned *tokens* (NER 14.5 M of
    # 87.0 M = 16.7 %), not of the records (66,932 of 404,107 would be 16.6 %).
    total_tokens = sum(t["tokens"] for t in tasks.values()) or 1
    rows = []
    for task in task_order(list(tasks)):
        t = tasks[task]
        rows.append(_row(label(task), t, total_tokens))
    rows.append(_row("total", card["total"], total_tokens))
    return rows


def _row(label: str, t: Mapping[str, Any], total_tokens: int) -> list[Any]:
    return [
        label,
        t["raw"],
        t["cleaned"],
        round(100 * t["tokens"] / total_tokens, 1),
        round(100 * t["cleaned"] / t["raw"], 1) if t["raw"] else 0.0,
        round(t["tokens"] / 1e6, 3),
        t["tokens"],
    ]


def source_rows(card: Mapping[str, Any]) -> list[list[Any]]:
    """Per source: raw, kept, dropped, truncated and the drops by reason."""
    rows = []
    for name, s in card["sources"].items():
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(s["dropped"].items()))
        label = f"{name} (constructed)" if s.get("constructed") else name
        rows.append(
            [label, s["raw"], s["kept"], sum(s["dropped"].values()), s["truncated"], reasons]
        )
    return rows


def reason_rows(card: Mapping[str, Any]) -> list[list[Any]]:
    """Drops by reason and task type."""
    rows = []
    for task in task_order(list(card["tasks"])):
        for reason, count in sorted(card["tasks"][task]["dropped"].items()):
            rows.append([label(task), reason, count])
    return rows


def _markdown_table(columns: list[str], rows: list[list[Any]]) -> str:
    """A card table, counts with thousands separators."""
    counted = [[f"{v:,}" if isinstance(v, int) else v for v in row] for row in rows]
    return markdown_table(columns, counted)


def _not_selected(card: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the "not selected" section (empty when every category was selected)."""
    if not card["not_selected"]:
        return []
    rows = [
        [label(t), reason, n]
        for t, reasons in sorted(card["not_selected"].items())
        for reason, n in reasons.items()
    ]
    return [
        "## Not selected (outside the total above)",
        "",
        "Read but not candidates of this mix: categories it does not keep "
        "(data.filters.category.keep), conversation turns after the first, webMedQA negative "
        "pairs, cMedQA2 answers outside the candidates split.",
        "",
        _markdown_table(["task", "reason", "items"], rows),
        "",
    ]


def _thresholds(card: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the reward-threshold tables (score files with one beside them)."""
    parts = []
    for table in card.get("thresholds", []):
        parts += [
            f"## Reward threshold: {', '.join(table['sources'])} (paper 2.3.1.3)",
            "",
            f"Records and tokens of the scored records each candidate threshold keeps, from "
            f"`{table['score_file']}` (bioqwen score-data). This mix filtered at "
            f"{table['threshold']:g} (data.filters.quality.threshold); *chosen* marks the "
            "scoring run's threshold, *balance* the candidate whose kept QA tokens come closest "
            "to the comprehension (NER + RE + MT) tokens, as the paper intended.",
            "",
            thresholds.markdown(table["rows"]),
        ]
    return parts


def _fetched(card: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the downloads section (sources `bioqwen fetch-data` fetched)."""
    fetched = card.get("fetched") or {}
    if not fetched:
        return []
    rows = [
        [
            name,
            f["url"],
            f["revision"] + (f" ({f['resolved_revision']})" if f.get("resolved_revision") else ""),
            f"`{f['sha256']}`"
            + (f", extracted `{f['extracted_sha256']}`" if f.get("extracted_sha256") else ""),
            f["checksum"],
        ]
        for name, f in fetched.items()
    ]
    return [
        "## Downloads (bioqwen fetch-data, fetch_manifest.json)",
        "",
        "sha256 of the downloaded file (and of the file extracted from it); checksum says how it "
        "was checked: pinned in conf/data/fetch/, the hub's LFS sha256, or recorded on first "
        "fetch (trust on first use: later fetches are checked against it).",
        "",
        _markdown_table(["source", "url", "revision (resolved)", "sha256", "checksum"], rows),
        "",
    ]


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card as Markdown: Table 1 layout, sources, drops by reason, skipped lines."""
    parts = [
        f"# Data card: mix `{card['mix']}`",
        "",
        f"data hash `{card['hash']}` · seed {card['seed']} · tokenizer {card['tokenizer']} · "
        f"max {card['max_tokens']} tokens · splits: train {card['splits']['train']:,}, "
        f"validation {card['splits']['validation']:,}",
        "",
        "## Raw -> cleaned per task type (paper Table 1 layout)",
        "",
        "ratio = share of the cleaned tokens (as the paper's Table 1) of every row above, "
        "self-cognition included; kept = cleaned / raw; tokens counted with the real Qwen "
        "tokenizer on the ChatML samples. Cleaning steps that ran: "
        + ", ".join(card["cleaning"])
        + "."
        + (DEDUP_DEPARTURE if "dedup" in card["cleaning"] else ""),
        "",
        _markdown_table(TABLE_COLUMNS, table1_rows(card)),
        "",
        *_not_selected(card),
        *_thresholds(card),
        *_fetched(card),
        "## Sources",
        "",
        _markdown_table(SOURCE_COLUMNS, source_rows(card)),
        "",
        "## Drops by reason",
        "",
        _markdown_table(REASON_COLUMNS, reason_rows(card)),
        "",
    ]
    skipped = card.get("skipped", [])
    if skipped:
        parts += [
            f"## Skipped input lines ({len(skipped)}, data.on_error=skip)",
            "",
            _markdown_table(
                ["where", "reason", "detail"],
                [[s["where"], s["reason"], s["detail"]] for s in skipped],
            ),
            "",
        ]
    return "\n".join(parts)


def card_metrics(card: Mapping[str, Any]) -> dict[str, Any]:
    """Flat name -> value metrics of the card (metrics.json and the W&B summary)."""
    metrics: dict[str, Any] = {
        "data/raw": card["total"]["raw"],
        "data/cleaned": card["total"]["cleaned"],
        "data/tokens_m": round(card["total"]["tokens"] / 1e6, 6),
        "data/train": card["splits"]["train"],
        "data/validation": card["splits"]["validation"],
        "data/skipped_lines": len(card.get("skipped", [])),
        "data/truncated": sum(s["truncated"] for s in card["sources"].values()),
    }
    for task, t in card["tasks"].items():
        metrics[f"data/{task}/raw"] = t["raw"]
        metrics[f"data/{task}/cleaned"] = t["cleaned"]
        metrics[f"data/{task}/tokens_m"] = round(t["tokens"] / 1e6, 6)
    for task, reasons in card["not_selected"].items():
        for reason, n in reasons.items():
            metrics[f"data/not_selected/{task}/{reason}"] = n
    for name, s in card["sources"].items():
        metrics[f"data/source/{name}/raw"] = s["raw"]
        metrics[f"data/source/{name}/kept"] = s["kept"]
        metrics[f"data/source/{name}/constructed"] = int(s["constructed"])
    for reason, count in card["total"]["dropped"].items():
        metrics[f"data/dropped/{reason}"] = count
    return metrics


def write_card(card: Mapping[str, Any], directory: str | Path) -> tuple[Path, Path]:
    """Write data_card.json and data_card.md into directory (atomically)."""
    directory = Path(directory)
    return (
        atomic_write_json(directory / CARD_JSON, card),
        atomic_write_text(directory / CARD_MD, card_markdown(card)),
    )


def log_card(card: Mapping[str, Any], tracker: TableSink) -> dict[str, Any]:
    """Log the card's tables and summary to a tracker; returns the summary metrics."""
    tracker.table("data_card/table1", TABLE_COLUMNS, table1_rows(card))
    tracker.table("data_card/sources", SOURCE_COLUMNS, source_rows(card))
    tracker.table("data_card/drops", REASON_COLUMNS, reason_rows(card))
    for table in card.get("thresholds", []):
        key = f"data_card/thresholds/{'+'.join(table['sources'])}"
        tracker.table(key, thresholds.COLUMNS, thresholds.as_lists(table["rows"]))
    metrics = card_metrics(card)
    tracker.summary(metrics)
    return metrics
