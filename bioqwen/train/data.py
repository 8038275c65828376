"""Training data: a prepared DatasetDict re-tokenized with the model's own tokenizer.

The prepare step stores conversations (`messages`); the loss mask comes from
`bioqwen.data.chatml.encode` (assistant replies plus their `<|im_end|>` only), so training and
the data card agree on what is trained. A dataset with nothing to train fails loudly instead of
silently optimising nothing (a known failure of response-template masking).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict
from transformers import PreTrainedTokenizerBase

from bioqwen.data.chatml import IGNORE_INDEX, encode
from bioqwen.errors import BioqwenError
from bioqwen.runs import LINEAGE_FILE, read_json, stable_hash

log = logging.getLogger("bioqwen.train")

REQUIRED_COLUMNS = ("messages",)
TASK = "task"  # the canonical record's task, kept to evaluate the validation split per task
TRAIN_SPLIT = "train"
EVAL_SPLIT = "validation"


@dataclass
class TokenizedData:
    """Model-ready splits and the counts that go into metrics.json."""

    train: Dataset
    validation: Dataset | None
    stats: dict[str, Any]
    # The validation split per task (ner, re, mt, qa, general, ...), when it holds several.
    validation_by_task: dict[str, Dataset] = field(default_factory=dict)


def find_dataset_dir(path: str | Path) -> Path:
    """Locate a saved DatasetDict: the directory itself, the dataset a prepare run's
    lineage.json names (it lives in the data cache), or a single direct subdirectory."""
    path = Path(path)
    if (path / "dataset_dict.json").exists():
        return path
    lineage = path / LINEAGE_FILE
    if lineage.is_file():
        named = read_json(lineage).get("dataset_path")
        if named and (Path(named) / "dataset_dict.json").exists():
            return Path(named)
        if named:
            raise BioqwenError(
                f"data_dir={path}: its {LINEAGE_FILE} names {named}, which holds no saved "
                "DatasetDict (data cache cleared? re-run `bioqwen prepare`)"
            )
    if path.is_dir():
        found = sorted(p.parent for p in path.glob("*/dataset_dict.json"))
        if len(found) == 1:
            return found[0]
    raise BioqwenError(f"data_dir={path}: no saved DatasetDict (dataset_dict.json) there")


def load_prepared(path: str | Path) -> DatasetDict:
    """Load a prepared mix and check it has a non-empty train split with conversations."""
    directory = find_dataset_dir(path)
    splits: dict[str, Dataset] = {}
    for name in read_json(directory / "dataset_dict.json").get("splits", []):
        # datasets saves an empty split without data files and cannot load it back: skip it.
        if read_json(directory / name / "state.json").get("_data_files"):
            splits[name] = Dataset.load_from_disk(str(directory / name))
    if TRAIN_SPLIT not in splits:
        raise BioqwenError(f"{directory}: the '{TRAIN_SPLIT}' split is missing or empty")
    for name, split in splits.items():
        missing = [c for c in REQUIRED_COLUMNS if c not in split.column_names]
        if missing:
            raise BioqwenError(f"{directory}: split {name} lacks column(s) {missing}")
    return DatasetDict(splits)


def load_data(data_dir: str | None, data_cfg: Any, seed: int) -> tuple[DatasetDict, dict[str, Any]]:
    """The prepared mix (an existing data_dir, or prepare data_cfg now) and its lineage entry."""
    if data_dir:
        directory = find_dataset_dir(data_dir)
        data = load_prepared(directory)
        info = {"path": str(directory.resolve())}
        card = directory.parent / "data_card.json"
        if card.is_file():
            # A prepare cache entry: its content hash and mix name, as the prepare run recorded.
            prepared = read_json(card)
            return data, {**info, "hash": prepared["hash"], "mix": prepared["mix"]}
        fingerprint = {name: (split._fingerprint, len(split)) for name, split in data.items()}
        return data, {**info, "hash": stable_hash(fingerprint), "mix": directory.name}
    from bioqwen.data.pipeline import prepare  # the prepare job's own code, cached by content

    result = prepare(data_cfg, seed=seed)
    return load_prepared(result.path), {
        "path": str(result.path),
        "hash": result.hash,
        "mix": str(data_cfg.mix.name),
    }


def cut_at_turn(ids: list[int], labels: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """An over-long row cut after the last trained reply that fits whole, stop token included.

    A reply cut mid-way would train the model on an answer without its `<|im_end|>` (it would
    learn not to stop); when no reply fits whole, nothing in the row is trained (it is dropped
    with the fully masked rows).
    """
    end = max(
        (
            p
            for p in range(1, max_length + 1)
            if labels[p - 1] != IGNORE_INDEX and labels[p] == IGNORE_INDEX
        ),
        default=0,
    )
    if end == 0:
        return ids[:max_length], [IGNORE_INDEX] * max_length
    return ids[:end], labels[:end]


def _tokenize(
    batch: dict[str, list[Any]], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "n_trained": [], "truncated": []}
    if TASK in batch:
        out[TASK] = batch[TASK]
    for messages in batch["messages"]:
        enc = encode(messages, tokenizer)
        ids, labels = enc["input_ids"], enc["labels"]
        # prepare enforces the paper's token limit with its own tokenizer; a model whose
        # vocabulary splits text finer (the tiny BPE) can still overflow.
        out["truncated"].append(len(ids) > max_length)
        if len(ids) > max_length:
            ids, labels = cut_at_turn(ids, labels, max_length)
        out["input_ids"].append(ids)
        out["labels"].append(labels)
        out["n_trained"].append(sum(label != IGNORE_INDEX for label in labels))
    return out


def tokenize_split(
    split: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    name: str,
    num_proc: int | None = None,
) -> tuple[Dataset, dict[str, int]]:
    """Tokenize one split; drop rows with no trained token; return it with its counts."""
    tokenized = split.map(
        _tokenize,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        remove_columns=split.column_names,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        desc=f"tokenizing {name}",
    )
    n_rows = len(tokenized)
    n_truncated = int(sum(tokenized["truncated"]))
    kept = tokenized.filter(lambda n: n > 0, input_columns="n_trained")
    stats = {
        f"data/{name}_samples": len(kept),
        f"data/{name}_dropped_fully_masked": n_rows - len(kept),
        f"data/{name}_truncated": n_truncated,
        f"data/{name}_tokens": int(sum(len(ids) for ids in kept["input_ids"])),
        f"data/{name}_trained_tokens": int(sum(kept["n_trained"])),
    }
    columns = ["input_ids", "labels", *([TASK] if TASK in kept.column_names else [])]
    return kept.select_columns(columns), stats


def by_task(split: Dataset) -> dict[str, Dataset]:
    """One model-ready dataset per task of a tokenized split (none when it holds one task)."""
    if TASK not in split.column_names:
        return {}
    tasks = sorted(set(split[TASK]))
    if len(tasks) < 2:
        return {}
    return {
        task: split.filter(lambda t, wanted=task: t == wanted, input_columns=TASK).remove_columns(
            TASK
        )
        for task in tasks
    }


def _model_columns(split: Dataset) -> Dataset:
    return split.remove_columns(TASK) if TASK in split.column_names else split


def tokenize_for_training(
    data: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    num_proc: int | None = None,
) -> TokenizedData:
    """Tokenize train (and validation, if present and non-empty) for the trainer."""
    train_raw = data[TRAIN_SPLIT]
    if max_train_samples is not None:
        train_raw = train_raw.select(range(min(max_train_samples, len(train_raw))))
    if len(train_raw) == 0:
        raise BioqwenError("training data: the train split is empty")
    train, stats = tokenize_split(train_raw, tokenizer, max_length, TRAIN_SPLIT, num_proc)
    if len(train) == 0:
        raise BioqwenError(
            f"training data: all {len(train_raw)} train samples are fully masked "
            "(no assistant tokens to train on); check the messages' roles"
        )
    train = _model_columns(train)
    validation, per_task = None, {}
    if EVAL_SPLIT in data and len(data[EVAL_SPLIT]) > 0:
        eval_raw = data[EVAL_SPLIT]
        if max_eval_samples is not None:
            eval_raw = eval_raw.select(range(min(max_eval_samples, len(eval_raw))))
        validation, eval_stats = tokenize_split(
            eval_raw, tokenizer, max_length, EVAL_SPLIT, num_proc
        )
        stats.update(eval_stats)
        per_task = by_task(validation)
        validation = _model_columns(validation) if len(validation) > 0 else None
    return TokenizedData(train, validation, stats, per_task if validation is not None else {})
