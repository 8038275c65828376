"""`prepare()`: raw sources -> cleaned, truncated ChatML mix in a content-addressed cache.

Per source, records stream from the reader in chunks through the cheap record-local steps in
this process (category, language, medical content, quality score, duplicates), then through
one batched tokenization with offsets (length filters, truncation, token counts), in
`num_proc` worker processes when asked. Every drop is recorded with its reason; per source
raw = kept + dropped is asserted. The mix step applies ratios and caps, shuffles and splits
with the seed, and saves a `datasets.DatasetDict` (train, validation).

Dataset columns: id, source, task, lang, messages (list of {role, content}, the language's
system prompt first), meta (the record's source fields as a JSON string: sources differ in
them), n_tokens (real Qwen tokenizer count of the ChatML sample, equal to the length of
`chatml.encode(messages)`), truncated (none | paragraph | sentence).

The cache key hashes the resolved data config (minus paths and knobs that do not change the
output), the input files' contents, the score file and the tokenizer files, so a re-run with
unchanged inputs loads the finished entry and does no work.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bioqwen.data import card as data_card
from bioqwen.data.chatml import DEFAULT_SYSTEM_PROMPTS, render, with_system
from bioqwen.data.clean import (
    Deduplicator,
    Drop,
    assign_language,
    filter_category,
    filter_length,
    filter_medical,
    filter_quality,
    load_scores,
)
from bioqwen.data.mix import shuffle_split, subsample
from bioqwen.data.sources import BadLine, Record, SourceSpec, read_source
from bioqwen.data.tokenizer import load_qwen_tokenizer, tokenizer_fingerprint
from bioqwen.data.truncate import fit, side_counts
from bioqwen.errors import BioqwenError
from bioqwen.runs import cached_directory, file_hash, read_json, stable_hash

# Bump when the processing changes in a way the config hash cannot see.
PIPELINE_VERSION = 1
DATASET_DIR = "dataset"
DROPS_FILE = "drops.jsonl"
COLUMNS = ("id", "source", "task", "lang", "messages", "meta", "n_tokens", "truncated")
# Knobs that change speed or locations, never the prepared data.
NOT_HASHED = ("cache_dir", "num_proc", "chunk_size", "root", "samples_dir")


@dataclass
class Prepared:
    """A prepared mix: the DatasetDict directory, its content hash and its data card."""

    path: Path
    hash: str
    card: dict[str, Any]
    cached: bool = False
    drops_path: Path | None = None


@dataclass
class _SourceStats:
    raw: int = 0
    kept: int = 0
    tokens: int = 0
    truncated: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass
class _Stage:
    """What the tokenization stage needs (shipped to worker processes once, by fork)."""

    tokenizer: Any
    max_tokens: int
    truncate: bool
    system_prompts: dict[str, str]
    length: dict[str, Any]


_WORKER_STAGE: _Stage | None = None


def _plain(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        try:
            return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
        except MissingMandatoryValue as err:
            key = str(err.full_key)
            key = key if key.startswith("data.") else f"data.{key}"
            raise BioqwenError(
                f"{key} is not set: the job's config must compose the data "
                "defaults (`- data: default` in its defaults list, as conf/prepare.yaml)"
            ) from err
    return json.loads(json.dumps(cfg, default=str))


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _specs(data: Mapping[str, Any]) -> dict[str, tuple[SourceSpec, Mapping[str, Any]]]:
    mix = data["mix"]
    if not mix.get("sources"):
        raise BioqwenError(f"data.mix ({mix.get('name')!r}) lists no sources")
    on_error = data["on_error"]
    if on_error not in ("raise", "skip"):
        raise BioqwenError(f"data.on_error={on_error!r}: expected 'raise' or 'skip'")
    specs = {}
    for name, src in mix["sources"].items():
        path = Path(src["path"]).expanduser().resolve()
        spec = SourceSpec(name, path, src.get("task"), src.get("lang"), src["options"], on_error)
        specs[name] = (spec, src)
    return specs


def _cache_key(
    data: Mapping[str, Any], seed: int, inputs: Mapping[str, str], tokenizer_id: str
) -> str:
    hashed = {k: v for k, v in data.items() if k not in NOT_HASHED}
    hashed["mix"] = dict(data["mix"])
    # Paths are replaced by the contents' hashes (in `inputs`): moving files changes nothing.
    hashed["mix"]["sources"] = {
        name: {k: v for k, v in src.items() if k not in ("path", "score_file")}
        for name, src in data["mix"]["sources"].items()
    }
    return stable_hash(
        {
            "data": hashed,
            "seed": seed,
            "inputs": inputs,
            "tokenizer": tokenizer_id,
            "version": PIPELINE_VERSION,
        }
    )


def prepare(data_cfg: Any, seed: int, *, progress: bool = False, force: bool = False) -> Prepared:
    """Prepare (or load from the cache) the mix described by `data_cfg` for `seed`."""
    data = _plain(data_cfg)
    specs = _specs(data)
    if int(data["max_tokens"]) < 8:
        raise BioqwenError(f"data.max_tokens={data['max_tokens']}: too small for a ChatML sample")
    quality_on = bool(data["filters"]["quality"]["enabled"])
    inputs: dict[str, str] = {}
    score_files: dict[str, Path] = {}
    for name, (spec, src) in specs.items():
        read_source(spec, src["reader"])  # validates reader name and path before any work
        inputs[name] = file_hash(spec.path)
        if quality_on and src.get("quality"):
            if not src.get("score_file"):
                raise BioqwenError(
                    f"data.mix.sources.{name}.score_file is not set but the source has "
                    "quality: true (give the scorer's output or data.filters.quality.enabled=false)"
                )
            score_files[name] = Path(src["score_file"]).expanduser().resolve()
            if not score_files[name].is_file():
                raise BioqwenError(
                    f"data.mix.sources.{name}.score_file: {score_files[name]} does not exist"
                )
            inputs[f"{name}/scores"] = file_hash(score_files[name])
    variant = data["tokenizer"]
    key = _cache_key(data, seed, inputs, tokenizer_fingerprint(variant))
    mix_name = data["mix"]["name"]
    entry = Path(data["cache_dir"]) / f"{mix_name}-{key}"
    if force and entry.exists():
        shutil.rmtree(entry)
    with cached_directory(entry) as tmp:
        cached = tmp is None
        if tmp is not None:
            scores: dict[str, float] = {}
            for path in score_files.values():
                scores.update(load_scores(path))
            card = _build(data, seed, specs, scores, sorted(score_files), tmp, progress)
            card["hash"] = key
            card["inputs"] = {
                name: {"path": str(spec.path), "hash": inputs[name]}
                for name, (spec, _) in specs.items()
            }
            for name, path in score_files.items():
                card["inputs"][f"{name}/scores"] = {
                    "path": str(path),
                    "hash": inputs[f"{name}/scores"],
                }
            data_card.write_card(card, tmp)
    card = read_json(entry / data_card.CARD_JSON)
    # A cache hit may come from the same bytes at other paths: name the paths read this time.
    for name, (spec, _) in specs.items():
        card["inputs"][name]["path"] = str(spec.path)
    for name, path in score_files.items():
        card["inputs"][f"{name}/scores"]["path"] = str(path)
    return Prepared(entry / DATASET_DIR, key, card, cached, entry / DROPS_FILE)


def _build(
    data: dict[str, Any],
    seed: int,
    specs: Mapping[str, tuple[SourceSpec, Mapping[str, Any]]],
    scores: Mapping[str, float],
    quality_sources: list[str],
    out: Path,
    progress: bool,
) -> dict[str, Any]:
    filters = data["filters"]
    stage = _Stage(
        tokenizer=load_qwen_tokenizer(data["tokenizer"]),
        max_tokens=int(data["max_tokens"]),
        truncate=bool(data["truncate"]),
        system_prompts={**DEFAULT_SYSTEM_PROMPTS, **(data.get("system_prompts") or {})},
        length=filters["length"],
    )
    stats: dict[str, _SourceStats] = {name: _SourceStats() for name in specs}
    task_raw: Counter[str] = Counter()
    task_drops: dict[str, Counter[str]] = {}
    skipped: list[dict[str, str]] = []
    kept: dict[str, list[Record]] = {name: [] for name in specs}
    drops_handle = open(out / DROPS_FILE, "w", encoding="utf-8")  # noqa: SIM115

    def account(name: str, task_of: Mapping[str, str], drops: Iterable[Drop]) -> None:
        for rid, reason in drops:
            task = task_of[rid]
            stats[name].dropped[reason] += 1
            task_drops.setdefault(task, Counter())[reason] += 1
            drops_handle.write(
                json.dumps(
                    {"id": rid, "source": name, "task": task, "reason": reason},
                    ensure_ascii=False,
                )
                + "\n"
            )

    # Record-local steps, in order; each returns (kept, drops).
    steps: list[Callable[[list[Record]], tuple[list[Record], list[Drop]]]] = []
    if filters["category"]["enabled"]:
        steps.append(lambda rs: filter_category(rs, filters["category"]["keep"]))
    med = filters["medical"]
    if med["enabled"]:
        steps.append(
            lambda rs: filter_medical(
                rs, med["tasks"], med["domains"], med["keywords"], med["match"]
            )
        )
    quality = filters["quality"]
    if quality_sources and quality["enabled"]:
        steps.append(
            lambda rs: filter_quality(
                rs, scores, quality["threshold"], quality_sources, quality["missing"]
            )
        )
    if filters["dedup"]["enabled"]:
        steps.append(Deduplicator(filters["dedup"]["normalized"]))

    def cleaned_chunks(name: str) -> Iterator[tuple[str, list[Record]]]:
        spec, src = specs[name]
        items = read_source(spec, src["reader"])
        if progress:
            from tqdm import tqdm

            items = tqdm(items, desc=f"prepare {name}", unit=" rec", mininterval=2.0)
        for chunk in _chunks(items, int(data["chunk_size"])):
            records: list[Record] = []
            bad: list[Drop] = []
            task_of: dict[str, str] = {}
            for item in chunk:
                if isinstance(item, BadLine):
                    bad.append((item.id, item.reason))
                    task_of[item.id] = item.task
                    skipped.append(
                        {"where": item.where, "reason": item.reason, "detail": item.detail}
                    )
                else:
                    records.append(item)
                    task_of[item["id"]] = item["task"]
            stats[name].raw += len(chunk)
            task_raw.update(task_of.values())
            account(name, task_of, bad)
            for step in steps:
                records, drops = step(records)
                account(name, task_of, drops)
            assign_language(records, data["language"]["text"])
            yield name, records

    def all_chunks() -> Iterator[tuple[str, list[Record]]]:
        for name in specs:
            yield from cleaned_chunks(name)

    def collect(name: str, records: list[Record], outcomes: list[Outcome]) -> None:
        drops = []
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome[3] is not None:
                drops.append((record["id"], outcome[3]))
            else:
                kept[name].append(_row(record, outcome, stage.system_prompts))
        account(name, {r["id"]: r["task"] for r in records}, drops)

    global _WORKER_STAGE
    num_proc = max(1, int(data["num_proc"]))
    try:
        if num_proc == 1:
            for name, records in all_chunks():
                collect(name, records, _tokenize_stage(stage, _stage_input(records)))
        else:
            _WORKER_STAGE = stage
            # fork: the workers inherit the loaded tokenizer instead of loading it again.
            context = multiprocessing.get_context("fork")
            with context.Pool(num_proc) as pool:
                # Submitted from this thread (all accounting stays single-threaded), results
                # consumed in order, with a bounded number of chunks in flight.
                pending: deque[tuple[str, list[Record], Any]] = deque()
                for name, records in all_chunks():
                    job = pool.apply_async(_worker, (_stage_input(records),))
                    pending.append((name, records, job))
                    while len(pending) > 2 * num_proc:
                        done, done_records, result = pending.popleft()
                        collect(done, done_records, result.get())
                while pending:
                    done, done_records, result = pending.popleft()
                    collect(done, done_records, result.get())
        for name, (_, src) in specs.items():
            chosen, removed = subsample(kept[name], src["ratio"], src["cap"], seed, name)
            kept[name] = chosen
            account(
                name,
                {r["id"]: r["task"] for r, _ in removed},
                [(r["id"], reason) for r, reason in removed],
            )
    finally:
        _WORKER_STAGE = None
        drops_handle.close()
    for name, records in kept.items():
        stats[name].kept = len(records)
        stats[name].tokens = sum(r["n_tokens"] for r in records)
        stats[name].truncated = sum(r["truncated"] != "none" for r in records)
    rows = [r for records in kept.values() for r in records]
    train, validation = shuffle_split(rows, float(data["mix"]["validation_size"]), seed)
    _save(train, validation, out / DATASET_DIR)
    splits = (len(train), len(validation))
    return _card(data, seed, rows, stats, task_raw, task_drops, skipped, *splits)


FEATURES_SPEC = {
    "id": "string",
    "source": "string",
    "task": "string",
    "lang": "string",
    "meta": "string",
    "n_tokens": "int32",
    "truncated": "string",
}


def _save(train: list[Record], validation: list[Record], path: Path) -> None:
    """Write the splits as a DatasetDict (explicit features, so empty splits keep the schema)."""
    from datasets import Dataset, DatasetDict, Features, List, Value

    features = Features(
        {
            **{k: Value(v) for k, v in FEATURES_SPEC.items()},
            "messages": List({"role": Value("string"), "content": Value("string")}),
        }
    )

    def dataset(rows: list[Record]) -> Dataset:
        return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=features)

    DatasetDict({"train": dataset(train), "validation": dataset(validation)}).save_to_disk(
        str(path)
    )


def _card(
    data: Mapping[str, Any],
    seed: int,
    rows: list[Record],
    stats: Mapping[str, _SourceStats],
    task_raw: Counter[str],
    task_drops: Mapping[str, Counter[str]],
    skipped: list[dict[str, str]],
    n_train: int,
    n_validation: int,
) -> dict[str, Any]:
    """Assemble the card, asserting raw = kept + dropped per source and per task."""
    sources = {}
    for name, s in stats.items():
        if s.raw != s.kept + sum(s.dropped.values()):
            raise AssertionError(
                f"source {name}: raw {s.raw} != kept {s.kept} + dropped {sum(s.dropped.values())}"
            )
        sources[name] = {
            "constructed": bool(data["mix"]["sources"][name].get("constructed")),
            "raw": s.raw,
            "kept": s.kept,
            "tokens": s.tokens,
            "truncated": s.truncated,
            "dropped": dict(sorted(s.dropped.items())),
        }
    if len({r["id"] for r in rows}) != len(rows):
        raise AssertionError("record ids are not unique across the mix")
    cleaned: Counter[str] = Counter(r["task"] for r in rows)
    tokens: Counter[str] = Counter()
    for r in rows:
        tokens[r["task"]] += r["n_tokens"]
    tasks = {}
    for task in sorted(set(task_raw) | set(cleaned)):
        dropped = dict(sorted(task_drops.get(task, Counter()).items()))
        if task_raw[task] != cleaned[task] + sum(dropped.values()):
            raise AssertionError(f"task {task}: raw != cleaned + dropped")
        tasks[task] = {
            "raw": task_raw[task],
            "cleaned": cleaned[task],
            "tokens": tokens[task],
            "dropped": dropped,
        }
    all_drops: Counter[str] = Counter()
    for s in stats.values():
        all_drops.update(s.dropped)
    return {
        "mix": data["mix"]["name"],
        "seed": seed,
        "tokenizer": data["tokenizer"],
        "max_tokens": data["max_tokens"],
        "tasks": tasks,
        "total": {
            "raw": sum(t["raw"] for t in tasks.values()),
            "cleaned": len(rows),
            "tokens": sum(tokens.values()),
            "dropped": dict(sorted(all_drops.items())),
        },
        "sources": sources,
        "splits": {"train": n_train, "validation": n_validation},
        "skipped": skipped,
    }


def _worker(items: list[tuple[str, str, str, list[dict[str, str]]]]) -> list[Outcome]:
    assert _WORKER_STAGE is not None
    return _tokenize_stage(_WORKER_STAGE, items)


# What the tokenization stage sends back per record (kept small: it crosses processes):
# (n_tokens, truncation mode, the cut last reply or None, drop reason or None).
Outcome = tuple[int, str, str | None, str | None]


def _stage_input(records: list[Record]) -> list[tuple[str, str, str, list[dict[str, str]]]]:
    return [(r["id"], r["task"], r["lang"], r["messages"]) for r in records]


def _tokenize_stage(
    stage: _Stage, items: list[tuple[str, str, str, list[dict[str, str]]]]
) -> list[Outcome]:
    """One batched tokenization: length filters, truncation and token counts for a chunk."""
    if not items:
        return []
    conversations = [
        with_system(messages, stage.system_prompts.get(lang, "")) for _, _, lang, messages in items
    ]
    chats = [render(c) for c in conversations]
    encodings = stage.tokenizer.backend_tokenizer.encode_batch(
        [chat.text for chat in chats], add_special_tokens=False
    )
    starts = [[start for start, _ in enc.offsets] for enc in encodings]
    reasons: dict[str, str] = {}
    length = stage.length
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
        elif not stage.truncate:
            too_long = len(token_starts) > stage.max_tokens
            out.append((len(token_starts), "none", None, "over_max_tokens" if too_long else None))
        else:
            fitted = fit(conversation, stage.tokenizer, stage.max_tokens, token_starts)
            if fitted.messages is None:
                out.append((0, "dropped", None, fitted.reason or "truncation_failed"))
            elif fitted.mode == "none":
                out.append((fitted.n_tokens, "none", None, None))
            else:
                out.append((fitted.n_tokens, fitted.mode, fitted.messages[-1]["content"], None))
    return out


def _row(record: Record, outcome: Outcome, system_prompts: Mapping[str, str]) -> Record:
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
