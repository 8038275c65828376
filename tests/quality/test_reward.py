"""Reward scoring: batched length-sorted scores equal one-at-a-time scores; bad models, score
files and records are refused naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.quality import reward
from bioqwen.quality.records import read_records

TEMPLATE = "Human:{query}\n\nAssistant:{response}"

# The quality step's tiny models (scorer, encoder, decoder) as fixtures.
pytest_plugins = ["tests.quality.models"]


def _spec(path: Path, **extra: object) -> dict[str, object]:
    return {
        "path": str(path),
        "trust_remote_code": False,
        "dtype": "float32",
        "template": TEMPLATE,
        "max_length": 512,
        **extra,
    }


def _sample_records(tmp_path: Path, lines: list[dict[str, str]] | None = None) -> list[dict]:
    source = Path(__file__).resolve().parents[2] / "samples/medchatzh/MedChatZH_train.sample.jsonl"
    if lines is not None:
        source = tmp_path / "medchatzh.jsonl"
        source.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    src = {"reader": "instruction", "path": str(source), "task": "qa", "quality": True}
    data = {"mix": {"sources": {"medchatzh": src}}, "on_error": "raise"}
    return read_records(data, lambda s: True)


@pytest.mark.parametrize("kind", ["qwen_scorer_dir", "bert_scorer_dir"])
def test_batched_sorted_scores_equal_one_at_a_time(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Padding, sorting and batching change nothing: each record keeps its own reward."""
    scorer = reward.load_scorer(_spec(request.getfixturevalue(kind)), reward.pick_device("cpu"))
    records = _sample_records(tmp_path)
    ids = [r["id"] for r in records]
    texts = reward.texts_of(records, TEMPLATE)
    batches = reward.plan(scorer, ids, texts, batch_size=8, max_tokens=2048)
    order = [i for batch in batches for i in batch]
    assert sorted(order) == list(range(len(ids)))
    encoded = scorer.tokenizer(texts, truncation=True, max_length=512)["input_ids"]
    lengths = [len(encoded[i]) for i in order]
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > 3 * lengths[-1]
    for batch in batches:  # within both budgets and the padding cap, or a lone record
        longest = max(len(encoded[i]) for i in batch)
        assert len(batch) <= 8 and (len(batch) * longest <= 2048 or len(batch) == 1)
        assert min(len(encoded[i]) for i in batch) >= (1 - reward.MAX_PADDING) * longest
    assert max(map(len, batches)) == 8
    out = tmp_path / "scores.jsonl"
    assert reward.score_into(scorer, out, ids, texts, batches) == len(ids)
    batched, _ = reward.read_scores(out, ids)
    single = dict(zip(ids, reward.authors_loop(scorer, texts), strict=True))
    assert len(set(single.values())) > len(ids) // 2  # the rewards really differ per record
    for rid in ids:
        assert batched[rid] == pytest.approx(single[rid], abs=1e-4), rid


def test_causal_lm_is_not_a_reward_model(tiny_model_dir: Path) -> None:
    with pytest.raises(BioqwenError, match="not a sequence classifier"):
        reward.load_scorer(_spec(tiny_model_dir), reward.pick_device("cpu"))


def test_scorer_longer_than_its_positions_is_refused(bert_scorer_dir: Path) -> None:
    with pytest.raises(BioqwenError, match="max_length=1024"):
        reward.load_scorer(_spec(bert_scorer_dir, max_length=1024), reward.pick_device("cpu"))


def test_record_that_fails_to_encode_is_named(qwen_scorer_dir: Path, tmp_path: Path) -> None:
    """A text the tokenizer cannot encode names its record. (A lone surrogate, a valid JSON
    escape, is now refused by the reader naming file:line; set here past the reader.)"""
    rows = [{"instruction": "头痛怎么办", "input": "", "output": "多休息。"}] * 3
    rows[1] = {"instruction": "bad \ud800 text", "input": "", "output": "ok"}
    with pytest.raises(BioqwenError, match=r"medchatzh\.jsonl:2: prompt: lone surrogate"):
        _sample_records(tmp_path, rows)
    records = _sample_records(tmp_path, [rows[0]] * 3)
    records[1]["messages"][0]["content"] = "bad \ud800 text"
    scorer = reward.load_scorer(_spec(qwen_scorer_dir), reward.pick_device("cpu"))
    ids = [r["id"] for r in records]
    with pytest.raises(BioqwenError, match="record medchatzh:2: the scorer's tokenizer"):
        reward.plan(scorer, ids, reward.texts_of(records, TEMPLATE), 8, 4096)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "medchatzh:99", "score": 1.0}', "medchatzh:99 is not in the scored sources"),
        ('{"id": "medchatzh:1", "score": "high"}', "score 'high' is not a number"),
        ('{"id": "medchatzh:1", "score": NaN}', "score nan is not a number"),
        ('{"id": "medchatzh:1"}', "expected an object with 'id' and 'score'"),
        ('{"id": "medchatzh:2", "score": 2.0}', "medchatzh:2 is scored twice"),
    ],
)
def test_bad_score_file_names_line_and_record(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_text('{"id": "medchatzh:2", "score": 3.0}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(BioqwenError, match=rf"scores.jsonl:2: .*{message}"):
        reward.read_scores(path, ["medchatzh:1", "medchatzh:2"])


def test_torn_last_line_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    whole = '{"id": "a", "score": 3.0}\n'
    path.write_text(whole + '{"id": "b", "sco', encoding="utf-8")
    scores, good = reward.read_scores(path, ["a", "b"])
    assert scores == {"a": 3.0} and good == len(whole)


def test_score_file_of_another_scorer_is_not_continued(
    qwen_scorer_dir: Path, bert_scorer_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_text("", encoding="utf-8")
    device = reward.pick_device("cpu")
    reward.write_lineage(path, reward.load_scorer(_spec(qwen_scorer_dir), device))
    other = reward.load_scorer(_spec(bert_scorer_dir), device)
    with pytest.raises(BioqwenError, match="score into a new run directory"):
        reward.check_lineage(path, reward.lineage_of(other))
