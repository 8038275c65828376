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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from bioqwen.checkout import plain
from bioqwen.config import OnError
from bioqwen.data import card as data_card
from bioqwen.data import fitting, thresholds
from bioqwen.data.card import SourceStats, Tally
from bioqwen.data.clean import (
    Deduplicator,
    Drop,
    assign_language,
    filter_category,
    filter_medical,
    filter_quality,
    load_scores,
)
from bioqwen.data.fitting import FitSettings, Outcome, fit_chunk, fit_inputs, to_row
from bioqwen.data.mix import shuffle_split, subsample
from bioqwen.data.sources import BadLine, Record, SourceSpec, Unused, check_source, read_source
from bioqwen.data.tokenizer import load_qwen_tokenizer, tokenizer_fingerprint
from bioqwen.errors import BioqwenError
from bioqwen.runs import cached_directory, file_hash, read_json, remove_inside, stable_hash

# Bump when the processing changes in a way the config hash cannot see.
PIPELINE_VERSION = 2
DATASET_DIR = "dataset"
DROPS_FILE = "drops.jsonl"
COLUMNS = ("id", "source", "task", "lang", "messages", "meta", "n_tokens", "truncated")
DATA_DEFAULTS_HINT = (
    "the job's config must compose the data defaults "
    "(`- data: default` in its defaults list, as conf/prepare.yaml)"
)
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


def _json_str(text: str) -> str:
    """`text` as a JSON string (as json.dumps with ensure_ascii=False), fast for plain text."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _specs(data: Mapping[str, Any]) -> dict[str, tuple[SourceSpec, Mapping[str, Any]]]:
    mix = data["mix"]
    if not mix.get("sources"):
        raise BioqwenError(f"data.mix ({mix.get('name')!r}) lists no sources")
    on_error = data["on_error"]
    if on_error not in tuple(OnError):  # also reached without a composed config
        raise BioqwenError(f"data.on_error={on_error!r}: expected one of {', '.join(OnError)}")
    specs = {}
    for name, src in mix["sources"].items():
        path = Path(src["path"]).expanduser().resolve()
        category = data["filters"]["category"]
        # The readers may reject categories the mix does not keep before a full parse.
        keep = frozenset(category["keep"]) if category["enabled"] else None
        spec = SourceSpec(name, path, src["task"], src["lang"], src["options"], on_error, keep)
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
    data = plain(data_cfg, "data", DATA_DEFAULTS_HINT)
    specs = _specs(data)
    if int(data["max_tokens"]) < 8:
        raise BioqwenError(f"data.max_tokens={data['max_tokens']}: too small for a ChatML sample")
    quality_on = bool(data["filters"]["quality"]["enabled"])
    inputs: dict[str, str] = {}
    score_files: dict[str, Path] = {}
    for name, (spec, src) in specs.items():
        check_source(spec, src["reader"])  # reader name and path, before any work
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
            table = score_files[name].with_name(thresholds.TABLE_FILE)
            if table.is_file():  # score-data's threshold table: shown in the card
                inputs[f"{name}/thresholds"] = file_hash(table)
    variant = data["tokenizer"]
    key = _cache_key(data, seed, inputs, tokenizer_fingerprint(variant))
    mix_name = data["mix"]["name"]
    entry = Path(data["cache_dir"]) / f"{mix_name}-{key}"
    if force and entry.exists():
        remove_inside(entry, entry.parent)
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
            card["thresholds"] = _threshold_tables(score_files, data)
            data_card.write_card(card, tmp)
    card = read_json(entry / data_card.CARD_JSON)
    # A cache hit may come from the same bytes at other paths: name the paths read this time.
    for name, (spec, _) in specs.items():
        card["inputs"][name]["path"] = str(spec.path)
    for name, path in score_files.items():
        card["inputs"][f"{name}/scores"]["path"] = str(path)
    return Prepared(entry / DATASET_DIR, key, card, cached, entry / DROPS_FILE)


def _threshold_tables(score_files: Mapping[str, Path], data: Mapping[str, Any]) -> list[Any]:
    """Per score file with a threshold table beside it (bioqwen score-data's run): the sources
    filtered with it, this prepare's threshold and the table's rows."""
    tables: dict[Path, dict[str, Any]] = {}
    for name, path in sorted(score_files.items()):
        rows = thresholds.beside(path)
        if rows is not None:
            entry = tables.setdefault(path, {"score_file": str(path), "sources": [], "rows": rows})
            entry["sources"].append(name)
    threshold = float(data["filters"]["quality"]["threshold"])
    return [{**t, "threshold": threshold} for t in tables.values()]


def _steps(
    filters: Mapping[str, Any], scores: Mapping[str, float], quality_sources: list[str]
) -> list[Callable[[list[Record]], tuple[list[Record], list[Drop]]]]:
    """The record-local cleaning steps that are switched on, in order; each returns
    (kept, drops)."""
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
    return steps


def _build(
    data: dict[str, Any],
    seed: int,
    specs: Mapping[str, tuple[SourceSpec, Mapping[str, Any]]],
    scores: Mapping[str, float],
    quality_sources: list[str],
    out: Path,
    progress: bool,
) -> dict[str, Any]:
    settings = FitSettings(
        tokenizer=load_qwen_tokenizer(data["tokenizer"]),
        max_tokens=int(data["max_tokens"]),
        truncate=bool(data["truncate"]),
        system_prompts=dict(data["system_prompts"]),
        length=data["filters"]["length"],
    )
    steps = _steps(data["filters"], scores, quality_sources)
    tally = Tally({name: SourceStats() for name in specs})
    kept: dict[str, list[Record]] = {name: [] for name in specs}
    drops_handle = open(out / DROPS_FILE, "w", encoding="utf-8")  # noqa: SIM115

    def account(name: str, task_of: Mapping[str, str], drops: Iterable[Drop]) -> None:
        for rid, reason in drops:
            task = task_of[rid]
            tally.drop(name, task, reason)
            # One JSON line per drop (millions at paper scale): the fields are JSON strings.
            drops_handle.write(
                f'{{"id": {_json_str(rid)}, "source": {_json_str(name)}, '
                f'"task": {_json_str(task)}, "reason": {_json_str(reason)}}}\n'
            )

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
                if isinstance(item, Unused):
                    bad.append((item.id, item.reason))
                    task_of[item.id] = item.task
                elif isinstance(item, BadLine):
                    bad.append((item.id, item.reason))
                    task_of[item.id] = item.task
                    tally.skipped.append(
                        {"where": item.where, "reason": item.reason, "detail": item.detail}
                    )
                else:
                    records.append(item)
                    task_of[item["id"]] = item["task"]
            tally.sources[name].raw += len(chunk)
            tally.task_raw.update(task_of.values())
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
                kept[name].append(to_row(record, outcome, settings.system_prompts))
        account(name, {r["id"]: r["task"] for r in records}, drops)

    num_proc = max(1, int(data["num_proc"]))
    try:
        if num_proc == 1:
            for name, records in all_chunks():
                collect(name, records, fit_chunk(settings, fit_inputs(records)))
        else:
            fitting.WORKER_SETTINGS = settings
            # fork: the workers inherit the loaded tokenizer instead of loading it again.
            context = multiprocessing.get_context("fork")
            with context.Pool(num_proc) as pool:
                # Submitted from this thread (all accounting stays single-threaded), results
                # consumed in order, with a bounded number of chunks in flight.
                pending: deque[tuple[str, list[Record], Any]] = deque()
                for name, records in all_chunks():
                    job = pool.apply_async(fitting.worker, (fit_inputs(records),))
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
        fitting.WORKER_SETTINGS = None
        drops_handle.close()
    for name, records in kept.items():
        stats = tally.sources[name]
        stats.kept = len(records)
        stats.tokens = sum(r["n_tokens"] for r in records)
        stats.truncated = sum(r["truncated"] != "none" for r in records)
    rows = [r for records in kept.values() for r in records]
    train, validation = shuffle_split(rows, float(data["mix"]["validation_size"]), seed)
    _save(train, validation, out / DATASET_DIR)
    splits = {"train": len(train), "validation": len(validation)}
    return data_card.assemble(data, seed, rows, tally, splits)


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

    splits = DatasetDict({"train": dataset(train), "validation": dataset(validation)})
    # An empty split saved with the default sharding has no shard and cannot be loaded back.
    empty = {name: 1 for name, split in splits.items() if len(split) == 0}
    splits.save_to_disk(str(path), num_shards=empty)
