"""Re-tokenizing a prepared mix: ChatML masks, truncation, splits, what counts as no data."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, DatasetDict

from bioqwen.data.chatml import IGNORE_INDEX
from bioqwen.errors import BioqwenError
from bioqwen.models import tokenizer_for
from bioqwen.train.data import (
    find_dataset_dir,
    load_prepared,
    tokenize_for_training,
    tokenize_split,
)
from tests.conftest import compose_config
from tests.train.conftest import make_records

TINY = compose_config("train", "model=tiny").model


@pytest.fixture
def tokenizer(tiny_model_dir):
    return tokenizer_for(TINY, str(tiny_model_dir))


def test_only_assistant_replies_and_their_im_end_are_trained(mix_dir, tokenizer):
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, 1024)
    row = data.train[0]
    trained = [
        t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != IGNORE_INDEX
    ]
    text = tokenizer.decode(trained)
    reply = make_records(1, 0)[0]["messages"][-1]["content"]
    assert text == reply + "<|im_end|>"
    assert data.stats["data/train_trained_tokens"] > 0
    assert data.validation is not None and len(data.validation) == 8


def test_long_samples_are_cut_and_rows_left_without_targets_dropped(mix_dir, tokenizer):
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, max_length=120)
    assert max(len(ids) for ids in data.train["input_ids"]) <= 120
    assert data.stats["data/train_truncated"] > 0
    # A cut that removes the whole reply leaves nothing to train: such rows go.
    assert data.stats["data/train_dropped_fully_masked"] > 0
    assert data.stats["data/train_samples"] + data.stats["data/train_dropped_fully_masked"] == 64


def test_a_cut_never_leaves_a_reply_without_its_stop_token(tokenizer):
    system, question = make_records(1, 0)[0]["messages"][:2]
    messages = [
        system,
        question,
        {"role": "assistant", "content": "Diseases: fever"},
        {"role": "user", "content": "And the drugs? " * 5},
        {"role": "assistant", "content": "Drugs: aspirin, insulin " * 20},
    ]
    row = Dataset.from_list([{"messages": messages}])
    full = tokenize_split(row, tokenizer, 10_000, "train")[0][0]
    cut, stats = tokenize_split(row, tokenizer, len(full["input_ids"]) - 5, "train")
    ids, labels = cut[0]["input_ids"], cut[0]["labels"]
    assert stats["data/train_truncated"] == 1
    trained = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
    # Only the first reply is left to train, whole, with its <|im_end|>; the row ends there.
    assert tokenizer.decode(trained) == "Diseases: fever<|im_end|>"
    assert labels[-1] != IGNORE_INDEX
    # No reply fits whole: nothing is trained, and the row is dropped and counted.
    _, none_fit = tokenize_split(row, tokenizer, 40, "train")
    assert none_fit["data/train_samples"] == 0 and none_fit["data/train_dropped_fully_masked"] == 1


def test_mixed_rows_keep_the_trainable_ones(tmp_path, tokenizer):
    rows = make_records(4, 0) + make_records(4, 1, masked=True)
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "d"))
    data = tokenize_for_training(load_prepared(tmp_path / "d"), tokenizer, 1024)
    assert len(data.train) == 4 and data.validation is None
    assert data.stats["data/train_dropped_fully_masked"] == 4


def test_dataset_dir_may_be_a_prepare_run_or_a_directory_holding_one_dataset(tmp_path, mix_dir):
    assert find_dataset_dir(mix_dir) == mix_dir
    holder = tmp_path / "holder"
    (holder / "dataset").mkdir(parents=True)
    (holder / "dataset" / "dataset_dict.json").write_text("{}")
    assert find_dataset_dir(holder) == holder / "dataset"
    # A prepare run directory: the dataset lives in the data cache, named by its lineage.json.
    run = tmp_path / "prepare-run"
    run.mkdir()
    (run / "lineage.json").write_text(json.dumps({"dataset_path": str(mix_dir)}))
    assert find_dataset_dir(run) == mix_dir
    (run / "lineage.json").write_text(json.dumps({"dataset_path": str(tmp_path / "gone")}))
    with pytest.raises(BioqwenError, match=r"gone, which holds no saved DatasetDict"):
        find_dataset_dir(run)
    with pytest.raises(BioqwenError, match="no saved DatasetDict"):
        find_dataset_dir(tmp_path / "missing")


def test_a_split_without_messages_is_rejected(tmp_path):
    DatasetDict({"train": Dataset.from_list([{"text": "x"}])}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(BioqwenError, match="messages"):
        load_prepared(tmp_path / "d")


def test_the_validation_split_is_also_split_per_task(tokenizer, mix_dir):
    data = tokenize_for_training(load_prepared(mix_dir), tokenizer, 1024)
    parts = data.validation_by_task
    assert sorted(parts) == ["mt", "ner", "re"]
    assert sum(len(part) for part in parts.values()) == len(data.validation)
    # Model-ready like the whole split: no task column reaches the collator.
    for split in (data.train, data.validation, *parts.values()):
        assert split.column_names == ["input_ids", "labels"]
