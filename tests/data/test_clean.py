import re
from pathlib import Path

import pytest

from bioqwen.data.clean import (
    Deduplicator,
    assign_language,
    filter_category,
    filter_length,
    filter_medical,
    filter_quality,
    load_scores,
    normalize_text,
)
from bioqwen.errors import BioqwenError


def rec(rid, prompt="问题", answer="回答", task="qa", source="s", **meta):
    return {
        "id": rid,
        "source": source,
        "task": task,
        "lang": None,
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
        "meta": meta,
    }


def ids(records):
    return [r["id"] for r in records]


def test_language_detection_on_prompt_or_conversation_and_fixed_lang_kept():
    records = [rec("a", "Translate: fever", "发热" * 10), rec("b", "问", "answer")]
    records[1]["lang"] = "en"
    assign_language(records, "prompt")
    assert [r["lang"] for r in records] == ["en", "en"]
    records[0]["lang"] = None
    assign_language(records, "conversation")
    assert records[0]["lang"] == "zh"
    with pytest.raises(BioqwenError, match=r"data\.language\.text"):
        assign_language(records, "answer")


def test_category_filter_keeps_listed_and_uncategorised_records():
    records = [rec("a", category="NER"), rec("b", category="TC"), rec("c")]
    kept, drops = filter_category(records, ["NER", "RE"])
    assert ids(kept) == ["a", "c"]
    assert drops == [("b", "category_not_selected")]


def test_medical_filter_by_domain_then_keyword_only_for_given_tasks():
    records = [
        rec("dom", "介绍昏迷", task="general", domain=["医疗", "病症"]),
        rec("kw", "我家狗狗生病了怎么治疗", task="general", domain=["通用"]),
        rec("en", "Why do patients wait so long?", task="general", domain=[]),
        rec("imp", "Why am I so impatient?", task="general", domain=[]),
        rec("ok", "写一首关于秋天的诗", task="general", domain=["通用"]),
        rec("qa", "治疗高血压", task="qa"),
    ]
    kept, drops = filter_medical(records, ["general"], ["医疗"], ["治疗", "patient"], "prompt")
    assert ids(kept) == ["imp", "ok", "qa"]
    assert drops == [
        ("dom", "medical_domain"),
        ("kw", "medical_keyword"),
        ("en", "medical_keyword"),
    ]


def test_medical_keywords_in_answers_only_count_with_conversation_match():
    records = [rec("a", "讲个故事", "他去医院看病", task="general")]
    assert filter_medical(records, ["general"], [], ["医院"], "prompt")[1] == []
    assert filter_medical(records, ["general"], [], ["医院"], "conversation")[1] == [
        ("a", "medical_keyword")
    ]


def test_quality_threshold_and_missing_score_policies():
    records = [rec("s:1"), rec("s:2"), rec("s:3"), rec("t:1", source="t")]
    scores = {"s:1": 2.80, "s:2": 2.79}
    kept, drops = filter_quality(records, scores, 2.80, ["s"], "drop")
    assert ids(kept) == ["s:1", "t:1"]
    assert drops == [("s:2", "low_quality"), ("s:3", "quality_unscored")]
    assert kept[0]["meta"]["score"] == 2.80
    kept, _ = filter_quality([rec("s:3")], scores, 2.80, ["s"], "keep")
    assert ids(kept) == ["s:3"]
    with pytest.raises(BioqwenError, match="s:3 has no score"):
        filter_quality([rec("s:3")], scores, 2.80, ["s"], "error")


def test_load_scores_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "scores.jsonl"
    jsonl.write_text('{"id": "m:1", "score": 3.5}\n\n{"id": "m:2", "score": -1}\n', "utf-8")
    assert load_scores(jsonl) == {"m:1": 3.5, "m:2": -1.0}
    csv_file = tmp_path / "scores.csv"
    csv_file.write_text("id,score\nm:1,2.9\n", "utf-8")
    assert load_scores(csv_file) == {"m:1": 2.9}
    csv_file.write_text("id,score\nm:1,high\n", "utf-8")
    with pytest.raises(BioqwenError, match=r"scores\.csv:2: record m:1: score 'high'"):
        load_scores(csv_file)
    jsonl.write_text('{"id": "m:1"}\n', "utf-8")
    with pytest.raises(BioqwenError, match=r"scores\.jsonl:1"):
        load_scores(jsonl)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('{"id": "m:2", "score": NaN}', "score nan is not a number"),
        ('{"id": "m:2", "score": Infinity}', "score inf is not a number"),
        ('{"id": "m:2", "score": -Infinity}', "score -inf is not a number"),
        ('{"id": "m:2", "score": true}', "score True is not a number"),
        ('{"id": "m:2", "score": "3.1"}', "score '3.1' is not a number"),
        ('{"id": "m:1", "score": 1.0}', "m:1 is scored twice (first at line 1)"),
        ("[" * 100_000 + "]" * 100_000, "malformed JSON: nesting too deep"),
    ],
)
def test_a_score_that_is_no_number_or_repeated_is_an_error_naming_the_line(
    tmp_path: Path, line: str, named: str
) -> None:
    # Before: NaN dropped as low_quality, Infinity and true (1.0) kept or dropped, a repeated
    # id silently won by its last line; deep nesting raised RecursionError.
    jsonl = tmp_path / "scores.jsonl"
    jsonl.write_text(f'{{"id": "m:1", "score": 3.5}}\n{line}\n', "utf-8")
    with pytest.raises(BioqwenError, match=rf"scores\.jsonl:2: .*{re.escape(named)}"):
        load_scores(jsonl)


@pytest.mark.parametrize("cell", ["nan", "inf", "-Infinity", "true", ""])
def test_a_csv_score_that_is_no_finite_number_is_an_error(tmp_path: Path, cell: str) -> None:
    scores = tmp_path / "scores.csv"
    scores.write_text(f"id,score\nm:1,3.0\nm:2,{cell}\n", "utf-8")
    with pytest.raises(BioqwenError, match=r"scores\.csv:3: record m:2: score .* not a number"):
        load_scores(scores)
    scores.write_text("id,score\nm:1,3.0\nm:1,2.0\n", "utf-8")
    with pytest.raises(BioqwenError, match=r"scores\.csv:3: record m:1 is scored twice"):
        load_scores(scores)


def test_dedup_exact_and_normalised_across_chunks():
    dedup = Deduplicator(normalized=True)
    kept, drops = dedup([rec("a", "Fever?", "Rest."), rec("b", "Fever?", "Rest.")])
    assert ids(kept) == ["a"] and drops == [("b", "duplicate_exact")]
    kept, drops = dedup([rec("c", "ＦＥＶＥＲ ?", "rest。"), rec("d", "Fever?", "Rest!!")])
    assert kept == [] and drops == [("c", "duplicate_normalized"), ("d", "duplicate_normalized")]
    only_exact = Deduplicator(normalized=False)
    kept, _ = only_exact([rec("a", "Fever?", "Rest."), rec("c", "fever?", "rest.")])
    assert ids(kept) == ["a", "c"]


def test_dedup_does_not_merge_different_turn_splits():
    kept, _ = Deduplicator()([rec("a", "问题 答", "案"), rec("b", "问题", "答案")])
    assert ids(kept) == ["a", "b"]


def test_normalize_text_folds_width_case_space_and_punctuation():
    assert normalize_text("Ｈｅｌｌｏ，  World！\n") == normalize_text("hello world")


def test_length_filter_follows_the_authors_strict_limits():
    records = [
        rec("ok", task="qa"),
        rec("p", task="qa"),
        rec("a", task="mt"),
        rec("g", task="general"),
        rec("g_ok", task="general"),
        rec("me", task="self_cognition"),
    ]
    counts = [(511, 511), (512, 1), (1, 512), (500, 424), (500, 423), (900, 900)]
    kept, drops = filter_length(records, counts, 512, 512, ["qa", "mt"], 924, ["general"])
    assert ids(kept) == ["ok", "g_ok", "me"]
    assert drops == [("p", "prompt_too_long"), ("a", "answer_too_long"), ("g", "total_too_long")]
