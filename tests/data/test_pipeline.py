import json
import shutil

import pytest
from datasets import load_from_disk

from bioqwen.data import pipeline, thresholds
from bioqwen.data.pipeline import prepare
from bioqwen.errors import BioqwenError
from tests.conftest import compose_config as compose
from tests.conftest import system_prompts
from tests.data.helpers import SAMPLES, qa, write_lines


@pytest.fixture(scope="module")
def cache(sample_cache):
    return sample_cache


@pytest.fixture(scope="module")
def sample(sample_prepared):
    return sample_prepared


@pytest.fixture(scope="module")
def dataset(sample):
    return load_from_disk(str(sample.path))


def test_sample_mix_is_the_default_and_holds_every_source(compose):
    cfg = compose("prepare")
    assert cfg.data.mix.name == "sample"
    readers = {src.reader for src in cfg.data.mix.sources.values()}
    assert readers == {
        "taiyi",
        "instruction",
        "coig_cqia",
        "self_cognition",
        "cmedqa2",
        "webmedqa",
        "icliniq",
    }


def test_dataset_contract(sample, dataset):
    assert set(dataset) == {"train", "validation"}
    for column in ("id", "source", "task", "lang", "messages", "n_tokens"):
        assert column in dataset["train"].column_names
    rows = list(dataset["train"]) + list(dataset["validation"])
    assert len(rows) == sample.card["total"]["cleaned"]
    assert len({r["id"] for r in rows}) == len(rows)
    assert len(dataset["validation"]) == round(0.1 * len(rows))
    for row in rows:
        assert row["messages"][0] == {
            "role": "system",
            "content": system_prompts()[row["lang"]],
        }
        assert row["messages"][-1]["role"] == "assistant"
        assert 0 < row["n_tokens"] <= 1024
    assert isinstance(sample.hash, str) and sample.hash in str(sample.path)


def test_card_counts_add_up_per_source_and_task(sample):
    card = sample.card
    assert set(card["sources"]) == {
        "taiyi",
        "medchatzh",
        "coig_cqia",
        "self_cognition",
        "cmedqa2",
        "webmedqa",
        "icliniq",
    }
    for s in list(card["sources"].values()) + list(card["tasks"].values()):
        kept = s.get("kept", s.get("cleaned"))
        assert s["raw"] == kept + sum(s["dropped"].values())
    assert card["sources"]["taiyi"]["raw"] == 21
    constructed = {n for n, s in card["sources"].items() if s["constructed"]}
    assert constructed == {"medchatzh", "self_cognition", "cmedqa2", "webmedqa", "icliniq"}
    assert card["sources"]["coig_cqia"]["dropped"]["medical_domain"] == 100
    assert {"ner", "re", "mt", "qa", "general"} <= set(card["tasks"])
    # Table 1's total holds the selected categories only; the rest is listed apart.
    not_selected = sum(n for reasons in card["not_selected"].values() for n in reasons.values())
    assert card["not_selected"]["tc"] == {"category_not_selected": 7}
    assert card["total"]["raw"] + not_selected == sum(s["raw"] for s in card["sources"].values())
    assert "tc" not in card["tasks"]


def test_sample_exercises_every_cleaning_step(sample, dataset):
    # (medical_keyword: the real COIG sample lines carry no medical keyword outside the
    # medical domain; tests/data/test_clean.py covers it.)
    reasons = set(sample.card["sources"]["taiyi"]["dropped"])
    reasons |= set(sample.card["total"]["dropped"])
    assert reasons >= {
        "category_not_selected",
        "medical_domain",
        "low_quality",
        "quality_unscored",
        "duplicate_exact",
        "duplicate_normalized",
        "prompt_too_long",
        "answer_too_long",
        "total_too_long",
        "over_cap",
        "ratio_sample",
    }
    modes = {r["truncated"] for split in dataset.values() for r in split}
    assert modes == {"none", "paragraph", "sentence"}


def test_drops_file_names_every_dropped_record(sample):
    drops = [json.loads(line) for line in sample.drops_path.read_text("utf-8").splitlines()]
    total = sum(sample.card["total"]["dropped"].values())
    outside = sum(n for r in sample.card["not_selected"].values() for n in r.values())
    assert len(drops) == total + outside
    assert len({d["id"] for d in drops}) == len(drops)
    assert all(d["id"].startswith(d["source"] + ":") for d in drops)


def test_rerun_with_unchanged_inputs_does_no_work(sample, cache, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("prepare rebuilt a cached mix")

    monkeypatch.setattr(pipeline, "_build", no_work)
    monkeypatch.setattr(pipeline, "load_qwen_tokenizer", no_work)
    cfg = compose("prepare", f"data.cache_dir={cache}", "data.num_proc=2", "data.chunk_size=7")
    again = prepare(cfg.data, seed=cfg.seed)
    assert again.cached and again.hash == sample.hash and again.path == sample.path


def test_hash_follows_inputs_seed_and_settings(sample, cache, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "_build", lambda *a, **k: (_ for _ in ()).throw(RuntimeError))
    taiyi = tmp_path / "Taiyi_Instruction_Data_Example.jsonl"  # file_hash covers the name
    shutil.copy(SAMPLES / "taiyi" / "Taiyi_Instruction_Data_Example.jsonl", taiyi)
    moved = compose("prepare", f"data.cache_dir={cache}", f"data.mix.sources.taiyi.path={taiyi}")
    assert prepare(moved.data, seed=42).hash == sample.hash  # same bytes elsewhere: cached
    with open(taiyi, "a", encoding="utf-8") as handle:
        handle.write(
            json.dumps({"category": "NER", "conversation": [{"human": "a", "assistant": "b"}]})
            + "\n"
        )
    for cfg, seed in (
        (moved, 42),
        (compose("prepare", f"data.cache_dir={cache}"), 7),
        (compose("prepare", f"data.cache_dir={cache}", "data.max_tokens=512"), 42),
    ):
        with pytest.raises(RuntimeError):
            prepare(cfg.data, seed=seed)  # a new key: it would have to build


def test_two_processes_give_the_same_mix(sample, dataset, tmp_path):
    cfg = compose("prepare", f"data.cache_dir={tmp_path}", "data.num_proc=2", "data.chunk_size=16")
    parallel = prepare(cfg.data, seed=cfg.seed)
    assert not parallel.cached and parallel.hash == sample.hash
    other = load_from_disk(str(parallel.path))
    for split in ("train", "validation"):
        assert other[split]["id"] == dataset[split]["id"]
        assert other[split]["n_tokens"] == dataset[split]["n_tokens"]
    assert parallel.card["sources"] == sample.card["sources"]


def small_mix(tmp_path, lines, *overrides):
    path = write_lines(tmp_path / "qa.jsonl", lines)
    return compose(
        "prepare",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data/mix=stage1",
        f"data.mix.sources.taiyi.path={path}",
        "data.mix.sources.taiyi.reader=instruction",
        "data.mix.sources.taiyi.task=qa",
        "data.mix.validation_size=0",
        *overrides,
    )


def test_bad_line_stops_with_file_line_and_writes_nothing(tmp_path):
    cfg = small_mix(tmp_path, [qa("问", "答"), b'{"instruction": '])
    with pytest.raises(BioqwenError, match=r"qa\.jsonl:2: malformed JSON"):
        prepare(cfg.data, seed=0)
    assert not any((tmp_path / "cache").iterdir())


def test_skip_policy_records_skipped_lines_in_the_card(tmp_path):
    lines = [
        qa("头痛怎么办？", "多休息。"),
        b"\xff\xfe",
        qa("问", ""),
        b"[1, 2]",
        b'{"instruction": "',
        {"instruction": "问", "input": ""},
        qa("发热？", "补液。"),
    ]
    cfg = small_mix(tmp_path, lines, "data.on_error=skip")
    prepared = prepare(cfg.data, seed=0)
    card = prepared.card
    assert [(s["where"].rsplit(":", 1)[1], s["reason"]) for s in card["skipped"]] == [
        ("2", "invalid_utf8"),
        ("4", "malformed_record"),
        ("5", "malformed_json"),
        ("6", "missing_field"),
    ]
    assert all(s["where"].startswith(str(tmp_path / "qa.jsonl")) for s in card["skipped"])
    source = card["sources"]["taiyi"]
    assert source["raw"] == 7 and source["kept"] == 2
    # The empty answer is data (a counted drop), not a skipped line.
    assert source["dropped"] == {
        "empty_answer": 1,
        "invalid_utf8": 1,
        "malformed_json": 1,
        "malformed_record": 1,
        "missing_field": 1,
    }
    # The Markdown card lists each skipped line with its reason too.
    markdown = (prepared.path.parent / "data_card.md").read_text("utf-8")
    assert "Skipped input lines (4" in markdown
    assert f"{tmp_path / 'qa.jsonl'}:6 | missing_field | missing field 'output'" in markdown


def test_quality_source_without_score_file_is_a_clear_error(tmp_path):
    cfg = small_mix(tmp_path, [qa("问", "答")], "data.mix.sources.taiyi.quality=true")
    with pytest.raises(BioqwenError, match=r"data\.mix\.sources\.taiyi\.score_file"):
        prepare(cfg.data, seed=0)
    cfg = small_mix(
        tmp_path,
        [qa("问", "答")],
        "data.mix.sources.taiyi.quality=true",
        f"data.mix.sources.taiyi.score_file={tmp_path / 'none.jsonl'}",
    )
    with pytest.raises(BioqwenError, match=r"none\.jsonl does not exist"):
        prepare(cfg.data, seed=0)


def test_without_truncation_over_long_samples_are_dropped(tmp_path):
    long_answer = "\n".join(["高血压患者应限制食盐摄入。" * 5] * 10)
    cfg = small_mix(
        tmp_path,
        [qa("问", long_answer), qa("问2", "答")],
        "data.max_tokens=128",
        "data.truncate=false",
        "data.filters.length.enabled=false",
    )
    card = prepare(cfg.data, seed=0).card
    assert card["sources"]["taiyi"]["dropped"] == {"over_max_tokens": 1}


def test_a_job_config_without_the_data_defaults_fails_naming_the_key(tmp_path):
    from omegaconf import OmegaConf

    cfg = compose("prepare", f"data.cache_dir={tmp_path}")
    OmegaConf.update(cfg, "data.max_tokens", "???")  # as a job that skipped `- data: default`
    with pytest.raises(BioqwenError, match=r"data\.max_tokens is not set.*- data: default"):
        prepare(cfg.data, seed=0)


def test_paper_mixes_read_the_full_downloads_under_data_root(compose):
    stage1 = compose("prepare", "data/mix=stage1", "data.root=/dl")
    assert list(stage1.data.mix.sources) == ["taiyi"]
    assert stage1.data.mix.sources.taiyi.path == "/dl/taiyi/Taiyi_Instruction_Data_001.jsonl"
    assert stage1.data.mix.validation_size == 500
    stage2 = compose("prepare", "data/mix=stage2", "data.root=/dl")
    sources = stage2.data.mix.sources
    assert list(sources) == ["taiyi", "medchatzh", "coig_cqia", "self_cognition"]
    assert sources.medchatzh.path == "/dl/medchatzh/MedChatZH_train.json"
    assert sources.medchatzh.quality and sources.medchatzh.score_file.startswith("/dl/")
    assert sources.coig_cqia.path == "/dl/coig_cqia/COIG-CQIA-full.jsonl"
    assert stage2.data.filters.quality.threshold == 2.80
    assert list(stage2.data.filters.category.keep) == ["NER", "RE", "MT-zh2en", "MT-en2zh"]


def test_moved_inputs_are_named_by_their_new_paths_on_a_cache_hit(sample, cache, tmp_path):
    taiyi = tmp_path / "Taiyi_Instruction_Data_Example.jsonl"
    shutil.copy(SAMPLES / "taiyi" / "Taiyi_Instruction_Data_Example.jsonl", taiyi)
    cfg = compose("prepare", f"data.cache_dir={cache}", f"data.mix.sources.taiyi.path={taiyi}")
    hit = prepare(cfg.data, seed=42)
    assert hit.cached and hit.card["inputs"]["taiyi"]["path"] == str(taiyi)


def test_stage1_card_on_a_taiyi_file_with_out_of_scope_categories(tmp_path):
    """Table 1 totals only the selected categories; the pre-check leaves the card unchanged."""
    taiyi = SAMPLES / "taiyi" / "Taiyi_Instruction_Data_Example.jsonl"
    cards = []
    for precheck in ("true", "false"):
        cfg = compose(
            "prepare",
            "data/mix=stage1",
            f"data.mix.sources.taiyi.path={taiyi}",
            f"data.mix.sources.taiyi.options.precheck={precheck}",
            "data.mix.validation_size=2",
            f"data.cache_dir={tmp_path / precheck}",
        )
        cards.append(prepare(cfg.data, seed=0).card)
    with_check, without = (
        {k: v for k, v in c.items() if k not in ("hash", "inputs")} for c in cards
    )
    assert with_check == without
    card = cards[0]
    assert set(card["tasks"]) == {"ner", "re", "mt"}
    assert card["not_selected"] == {"tc": {"category_not_selected": 7}}
    assert card["total"]["raw"] == sum(t["raw"] for t in card["tasks"].values()) == 14


def test_the_card_shows_the_threshold_table_of_the_score_file_it_filtered_with(tmp_path):
    scoring = tmp_path / "score-run"  # as `bioqwen score-data` leaves its run directory
    scoring.mkdir()
    scores = {"taiyi:1": 3.1, "taiyi:2": 2.0}
    write_lines(scoring / "scores.jsonl", [{"id": k, "score": v} for k, v in scores.items()])
    rows = thresholds.table(scores, {"taiyi:1": 30, "taiyi:2": 20}, [2.0, 3.0], 2.8, 25)
    (scoring / thresholds.TABLE_FILE).write_text(json.dumps(rows), encoding="utf-8")
    cfg = small_mix(
        tmp_path,
        [qa("高血压吃什么？", "低盐饮食。"), qa("发热怎么办？", "多喝水。")],
        "data.mix.sources.taiyi.quality=true",
        f"data.mix.sources.taiyi.score_file={scoring / 'scores.jsonl'}",
    )
    prepared = prepare(cfg.data, seed=0)
    (table,) = prepared.card["thresholds"]
    assert table == {
        "score_file": str(scoring / "scores.jsonl"),
        "sources": ["taiyi"],
        "rows": rows,
        "threshold": 2.8,
    }
    markdown = (prepared.path.parent / "data_card.md").read_text("utf-8")
    assert "## Reward threshold: taiyi (paper 2.3.1.3)" in markdown
    assert "This mix filtered at 2.8" in markdown
    assert thresholds.markdown(rows) in markdown
    assert prepared.card["sources"]["taiyi"]["dropped"] == {"low_quality": 1}
    # A changed table is a changed input: the card is rebuilt, not served from the cache.
    (scoring / thresholds.TABLE_FILE).write_text(json.dumps(rows[:1]), encoding="utf-8")
    again = prepare(cfg.data, seed=0)
    assert not again.cached and again.card["thresholds"][0]["rows"] == rows[:1]
