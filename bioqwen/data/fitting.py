"""Fitting records into `max_tokens`: one batched tokenization per chunk of records.

For each chunk of cleaned records this renders the ChatML samples (language's system prompt
first), tokenizes them in one batch with offsets, applies the authors' length filters,
truncates the last reply where allowed, and counts tokens. It runs in the prepare process or
in forked worker processes (the settings travel once, by fork, through `WORKER_SETTINGS`);
what comes back per record is a small `Outcome` tuple, and `to_row` turns a kept record and
its outcome into a dataset row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bioqwen.data.chatml import render, with_system
from bioqwen.data.clean import filter_length
from bioqwen.data.sources import Record
from bioqwen.data.truncate import fit, side_counts

# What the fitting sends back per record (kept small: it crosses processes):
# (n_tokens, truncation mode, the cut last reply or None, drop reason or None).
Outcome = tuple[int, str, str | None, str | None]
# What it receives per record: (id, task, lang, messages).
FitInput = tuple[str, str, str, list[dict[str, str]]]


@dataclass
class FitSettings:
    """What fitting needs (shipped to worker processes once, by fork)."""

    tokenizer: Any
    max_tokens: int
    truncate: bool
    system_prompts: dict[str, str]
    length: dict[str, Any]


WORKER_SETTINGS: FitSettings | None = None


def fit_inputs(records: list[Record]) -> list[FitInput]:
    """The part of each record that fitting reads."""
    return [(r["id"], r["task"], r["lang"], r["messages"]) for r in records]


def worker(items: list[FitInput]) -> list[Outcome]:
    """Fit a chunk in a forked worker, with the settings it inherited."""
    assert WORKER_SETTINGS is not None
    return fit_chunk(WORKER_SETTINGS, items)


def fit_chunk(settings: FitSettings, items: list[FitInput]) -> list[Outcome]:
    """One batched tokenization: length filters, truncation and token counts for a chunk."""
    if not items:
        return []
    conversations = [
        with_system(messages, settings.system_prompts.get(lang, ""))
        for _, _, lang, messages in items
    ]
    chats = [render(c) for c in conversations]
    encodings = settings.tokenizer.backend_tokenizer.encode_batch(
        [chat.text for chat in chats], add_special_tokens=False
    )
    starts = [[start for start, _ in enc.offsets] for enc in encodings]
    reasons: dict[str, str] = {}
    length = settings.length
    if length["enabled"]:
        counts = [side_counts(c, s) for c, s in zip(chats, starts, strict=True)]
        _, length_drops = filter_length(
            [{"id": rid, "task": task} for rid, task, _, _ in items],
            counts,
            length["max_prompt_tokens"],
            length["max_answer_tokens"],
            length["pair_tasks"],
            length["max_total_tokens"],
            length["total_tasks"],
        )
        reasons = dict(length_drops)
    out: list[Outcome] = []
    for (rid, _, _, _), conversation, token_starts in zip(
        items, conversations, starts, strict=True
    ):
        if rid in reasons:
            out.append((0, "dropped", None, reasons[rid]))
        elif not settings.truncate:
            too_long = len(token_starts) > settings.max_tokens
            out.append((len(token_starts), "none", None, "over_max_tokens" if too_long else None))
        else:
            fitted = fit(conversation, settings.tokenizer, settings.max_tokens, token_starts)
            if fitted.messages is None:
                out.append((0, "dropped", None, fitted.reason or "truncation_failed"))
            elif fitted.mode == "none":
                out.append((fitted.n_tokens, "none", None, None))
            else:
                out.append((fitted.n_tokens, fitted.mode, fitted.messages[-1]["content"], None))
    return out


def to_row(record: Record, outcome: Outcome, system_prompts: Mapping[str, str]) -> Record:
    """The dataset row of a kept record: system prompt first, last reply cut if truncated."""
    n_tokens, mode, cut, _ = outcome
    messages = with_system(record["messages"], system_prompts.get(record["lang"], ""))
    if cut is not None:
        messages[-1] = {"role": "assistant", "content": cut}
    return {
        "id": record["id"],
        "source": record["source"],
        "task": record["task"],
        "lang": record["lang"],
        "messages": messages,
        "meta": json.dumps(record["meta"], ensure_ascii=False, default=str),
        "n_tokens": n_tokens,
        "truncated": mode,
    }
