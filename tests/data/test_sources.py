import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bioqwen.data.sources import BadLine, SourceSpec, Unused, read_source
from bioqwen.errors import BioqwenError
from tests.data.helpers import SAMPLES, qa, write_lines


def spec(source, path, task=None, on_error="raise", **options):
    return SourceSpec(source, Path(path), task, None, options, on_error)


def items(source, reader, path, **kw):
    return list(read_source(spec(source, path, **kw), reader))


def records(source, reader, path, **kw):
    """The records and bad lines a reader yields (not the counted Unused items)."""
    return [i for i in items(source, reader, path, **kw) if not isinstance(i, Unused)]


def unused(source, reader, path, **kw):
    """Reason -> count of what a reader read but counted instead of making a record."""
    return Counter(i.reason for i in items(source, reader, path, **kw) if isinstance(i, Unused))


def test_taiyi_example_file_maps_category_to_task_and_keeps_meta():
    out = records("taiyi", "taiyi", SAMPLES / "taiyi" / "Taiyi_Instruction_Data_Example.jsonl")
    assert len(out) == 21
    first = out[0]
    assert first["id"] == "taiyi:1"
    assert first["task"] == "mt" and first["meta"]["category"] == "MT-en2zh"
    assert first["meta"]["conversation_id"] == 52505
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert first["messages"][1]["content"].startswith("大部分患者(72%)")
    tasks = sorted({r["task"] for r in out})
    assert tasks == ["mt", "ner", "re", "tc"]


def test_coig_directory_reads_every_subset_with_domain_in_meta():
    out = records("coig", "coig_cqia", SAMPLES / "coig_cqia")
    assert len(out) == 300
    assert len({r["id"] for r in out}) == 300
    symptom = [r for r in out if r["id"].startswith("coig:wiki/bkmy_symptom.jsonl:")]
    assert len(symptom) == 100 and all("医疗" in r["meta"]["domain"] for r in symptom)
    assert symptom[0]["messages"][0]["content"].startswith("我正在了解昏迷")
    assert all(r["task"] == "general" for r in out)


def test_instruction_reader_joins_instruction_and_input(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [qa("请看化验单", "没有问题。", "血红蛋白 95 g/L")])
    (rec,) = records("medchatzh", "instruction", path)
    assert rec["messages"][0]["content"] == "请看化验单\n血红蛋白 95 g/L"
    assert rec["task"] == "qa" and rec["id"] == "medchatzh:1"


def test_medchatzh_sample_starts_with_the_real_exemplar():
    out = records(
        "medchatzh", "instruction", SAMPLES / "medchatzh" / "MedChatZH_train.sample.jsonl"
    )
    assert out[0]["messages"][0]["content"] == "女人吃什么能补气血"
    assert "\n42. 5毫克" in out[0]["messages"][1]["content"]


def test_cmedqa2_joins_questions_and_answers_on_the_candidate_split():
    root = SAMPLES / "cmedqa2"
    train = records("cmedqa2", "cmedqa2", root, candidates="train_candidates.txt")
    test = records("cmedqa2", "cmedqa2", root, candidates="test_candidates.txt")
    everything = records("cmedqa2", "cmedqa2", root)
    assert train and test
    assert {r["id"] for r in train}.isdisjoint({r["id"] for r in test})
    assert len(train) + len(test) == len(everything)
    rec = train[0]
    qid, aid = rec["id"].split(":")[1:]
    assert rec["meta"] == {"question_id": qid, "ans_id": aid}
    assert rec["messages"][1]["content"].startswith("你好，")


def test_webmedqa_keeps_positive_answers_only():
    out = records("webmedqa", "webmedqa", SAMPLES / "webmedqa" / "medQA.train.sample.txt")
    lines = (SAMPLES / "webmedqa" / "medQA.train.sample.txt").read_text("utf-8").splitlines()
    assert len(out) == sum(line.split("\t")[1] == "1" for line in lines)
    # The negatives are counted, not silently skipped (issue 8 item 3).
    negatives = sum(line.split("\t")[1] != "1" for line in lines)
    assert unused("webmedqa", "webmedqa", SAMPLES / "webmedqa" / "medQA.train.sample.txt") == {
        "negative_pair": negatives
    }
    assert all(r["messages"][1]["content"].startswith("您好！") for r in out)


def test_icliniq_reads_the_chosen_answer_field():
    path = SAMPLES / "icliniq" / "iCliniq.sample.json"
    doctors = records("icliniq", "icliniq", path)
    chatgpt = records("icliniq", "icliniq", path, answer_field="answer_chatgpt")
    raw = json.loads(path.read_text("utf-8"))
    assert [r["messages"][1]["content"] for r in doctors] == [x["answer_icliniq"] for x in raw]
    assert chatgpt[0]["messages"][1]["content"] == raw[0]["answer_chatgpt"]
    assert doctors[2]["id"] == "icliniq:2"


def test_self_cognition_fills_placeholders():
    out = records(
        "me",
        "self_cognition",
        SAMPLES / "self_cognition" / "self_cognition.json",
        name="BioQwen",
        author="DUT",
    )
    text = " ".join(r["messages"][1]["content"] for r in out)
    assert "BioQwen" in text and "DUT" in text and "<NAME>" not in text and "<AUTHOR>" not in text


BAD_LINES = [
    (b'{"instruction": "a", "input": "", "output": "b"', "malformed JSON"),
    (json.dumps({"instruction": "a", "input": ""}).encode(), "missing field 'output'"),
    (b'{"instruction": "\xff\xfe", "input": "", "output": "b"}', "invalid UTF-8"),
    (json.dumps({"instruction": 3, "input": "", "output": "b"}).encode(), "should be str"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_bad_line_raises_naming_file_and_line(tmp_path, line, message):
    path = write_lines(tmp_path / "bad.jsonl", [qa("问", "答"), line])
    with pytest.raises(BioqwenError, match=rf"bad\.jsonl:2: .*{message}"):
        records("medchatzh", "instruction", path)


def test_skip_policy_yields_bad_lines_with_reasons(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [qa("问", "答"), *(line for line, _ in BAD_LINES)])
    out = records("medchatzh", "instruction", path, on_error="skip")
    assert not isinstance(out[0], BadLine)
    bad = out[1:]
    assert all(isinstance(b, BadLine) for b in bad)
    assert [b.reason for b in bad] == [
        "malformed_json",
        "missing_field",
        "invalid_utf8",
        "missing_field",
    ]
    assert bad[0].where.endswith("bad.jsonl:2") and bad[0].id == "medchatzh:2"


def test_webmedqa_short_line_names_the_line(tmp_path):
    path = tmp_path / "medQA.txt"
    path.write_text("1\t1\t内科\t头痛怎么办\t多休息\n2\t1\t内科\n", encoding="utf-8")
    with pytest.raises(BioqwenError, match=r"medQA\.txt:2: expected 5 tab-separated fields"):
        records("webmedqa", "webmedqa", path)


def test_broken_json_array_names_line(tmp_path):
    path = tmp_path / "icliniq.json"
    path.write_text('[\n {"input": "a", "answer_icliniq": "b"},\n {"input": \n]', encoding="utf-8")
    with pytest.raises(BioqwenError, match=r"icliniq\.json:4: malformed JSON"):
        records("icliniq", "icliniq", path)


def test_unknown_reader_and_missing_path_name_the_key(tmp_path):
    with pytest.raises(BioqwenError, match=r"data\.mix\.sources\.x\.reader='nope'"):
        read_source(spec("x", tmp_path), "nope")
    with pytest.raises(BioqwenError, match=r"data\.mix\.sources\.x\.path: .*missing\.jsonl"):
        read_source(spec("x", tmp_path / "missing.jsonl"), "instruction")


def test_jsonl_reader_streams_without_reading_the_whole_file(tmp_path):
    path = write_lines(tmp_path / "big.jsonl", [qa("问", "答")] * 5 + [b"{broken"])
    stream = read_source(spec("m", path), "instruction")
    assert [next(stream)["id"] for _ in range(5)] == [f"m:{i}" for i in range(1, 6)]
    with pytest.raises(BioqwenError):
        next(stream)


def test_cmedqa2_missing_file_and_multiline_field(tmp_path):
    with pytest.raises(BioqwenError, match=r"question\.csv does not exist"):
        records("cmedqa2", "cmedqa2", tmp_path)
    (tmp_path / "question.csv").write_text("question_id,content\n1,头痛\n", "utf-8")
    (tmp_path / "answer.csv").write_text(
        'ans_id,question_id,content\n7,1,"第一段。\n\n第二段。"\n', "utf-8"
    )
    (rec,) = records("cmedqa2", "cmedqa2", tmp_path)
    assert rec["id"] == "cmedqa2:1:7"
    assert rec["messages"][1]["content"] == "第一段。\n\n第二段。"


def test_cmedqa2_repeated_answer_id_is_named(tmp_path):
    (tmp_path / "question.csv").write_text("question_id,content\n1,头痛\n", "utf-8")
    (tmp_path / "answer.csv").write_text(
        "ans_id,question_id,content\n7,1,多休息。\n7,1,多喝水。\n", "utf-8"
    )
    with pytest.raises(BioqwenError, match=r"answer\.csv:3: answer 7 of question 1 appears twice"):
        records("cmedqa2", "cmedqa2", tmp_path)
    ok, bad = records("cmedqa2", "cmedqa2", tmp_path, on_error="skip")
    assert ok["id"] == "cmedqa2:1:7" and bad.reason == "duplicate_id" and bad.id != ok["id"]


# --- nothing vanishes uncounted; empty is data, not syntax (issue 8 items 3, 4, 5) --------------


def test_taiyi_turns_after_the_first_are_counted(tmp_path):
    turns = [{"human": f"q{k}", "assistant": f"a{k}"} for k in range(3)]
    line = {"category": "NER", "conversation": turns}
    path = write_lines(tmp_path / "t.jsonl", [line])
    (record,) = records("taiyi", "taiyi", path)
    assert len(record["messages"]) == 2
    found = [i for i in items("taiyi", "taiyi", path) if isinstance(i, Unused)]
    assert [(u.id, u.task, u.reason) for u in found] == [
        ("taiyi:1:turn2", "ner", "later_turn"),
        ("taiyi:1:turn3", "ner", "later_turn"),
    ]


def test_cmedqa2_split_outsiders_missing_answers_and_repeated_question_ids_are_counted(tmp_path):
    (tmp_path / "question.csv").write_text("question_id,content\n1,头痛\n1,头晕\n2,咳嗽\n", "utf-8")
    (tmp_path / "answer.csv").write_text(
        "ans_id,question_id,content\n7,1,多休息。\n8,2,多喝水。\n", "utf-8"
    )
    (tmp_path / "c.txt").write_text("question_id,pos_ans_id,neg_ans_id\n1,7,8\n2,9,7\n", "utf-8")
    (rec,) = records("cmedqa2", "cmedqa2", tmp_path, candidates="c.txt")
    assert rec["messages"][0]["content"] == "头痛"  # the first text of a repeated id
    assert unused("cmedqa2", "cmedqa2", tmp_path, candidates="c.txt") == {
        "duplicate_question_id": 1,
        "not_in_split": 1,  # answer 8 is no positive of this split
        "answer_missing": 1,  # candidate (2, 9) has no answer text
    }


def test_an_empty_answer_is_counted_not_an_error(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [qa("问", "答"), qa("问二", "  ")])
    assert len(records("medchatzh", "instruction", path)) == 1
    assert unused("medchatzh", "instruction", path) == {"empty_answer": 1}


def test_a_source_without_records_is_an_error_naming_the_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", "utf-8")
    with pytest.raises(BioqwenError, match=r"empty\.jsonl: no records read \(source 'm'"):
        records("m", "instruction", empty)


def test_instruction_data_as_a_json_array_reads_like_json_lines(tmp_path):
    rows = [qa("问", "答"), qa("问二", "答二")]
    array = tmp_path / "MedChatZH_train.json"
    array.write_text(json.dumps(rows, ensure_ascii=False, indent=1), "utf-8")
    lines = write_lines(tmp_path / "m.jsonl", rows)
    as_array = records("m", "instruction", array)
    as_lines = records("m", "instruction", lines)
    assert [r["messages"] for r in as_array] == [r["messages"] for r in as_lines]
    assert [r["id"] for r in as_array] == ["m:0", "m:1"]


def test_bom_and_crlf_files_read_like_plain_ones(tmp_path):
    plain = write_lines(tmp_path / "plain.jsonl", [qa("问", "答"), qa("问二", "答二")])
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))
    first, second = records("m", "instruction", plain), records("m", "instruction", crlf)
    assert [r["messages"] for r in first] == [r["messages"] for r in second]


def test_taiyi_precheck_rejects_out_of_scope_lines_before_parsing(tmp_path):
    lines = [
        {"category": "NER", "conversation": [{"human": "q", "assistant": "a"}]},
        b'{"category": "TC", "conversation": [broken',  # never parsed: out of scope
    ]
    path = write_lines(tmp_path / "t.jsonl", lines)
    keep = frozenset({"NER"})
    found = list(read_source(SourceSpec("taiyi", path, None, None, {}, categories=keep), "taiyi"))
    assert found[1] == Unused("taiyi:2", "tc", "category_not_selected")
    with pytest.raises(BioqwenError, match=r"t\.jsonl:2: malformed JSON"):
        list(read_source(SourceSpec("taiyi", path, None, None, {}), "taiyi"))


def test_sample_docs_state_the_score_file_as_it_is():
    scores = [json.loads(line) for line in (SAMPLES / "medchatzh/scores.sample.jsonl").open()]
    below = sorted(int(s["id"].split(":")[1]) for s in scores if s["score"] < 2.80)
    assert below == [10, 15]
    readme = (SAMPLES / "README.md").read_text("utf-8")
    assert f"({len(below)} below 2.80: lines 10, 15; line 20 unscored)" in readme
    # Every file a SOURCES.md table lists under samples/ is shipped.
    for sources in SAMPLES.glob("*/SOURCES.md"):
        for listed in re.findall(r"^\| `samples/([^`]+)`", sources.read_text("utf-8"), re.M):
            assert (SAMPLES / listed).exists(), f"{sources}: {listed} is not shipped"
