"""NER parsing and the paper's scoring recipe, with hand-computed cases for every rule."""

from __future__ import annotations

import ast

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.eval.ner import (
    TypeCounts,
    authors_result,
    count_document,
    ner_metrics,
    parse_response,
    split_entities,
)

TYPES = ["Chemical", "Disease"]


# --- scoring rules (issue item 5) -------------------------------------------------------------


def test_sets_per_document_and_type() -> None:
    # Gold mentions repeated in the text count once; a repeated prediction counts once.
    gold = {"Disease": {"coma", "acidosis"}, "Chemical": {"paracetamol"}}
    predicted = {"Disease": ["coma", "coma", "renal failure"], "Chemical": ["paracetamol"]}
    counts = count_document(gold, predicted, TYPES)
    assert counts["Disease"] == TypeCounts(tp=1, fp=1, fn=1)
    assert counts["Chemical"] == TypeCounts(tp=1, fp=0, fn=0)


def test_exact_case_sensitive_match() -> None:
    counts = count_document({"Disease": {"Coma"}}, {"Disease": ["coma", "Coma "]}, ["Disease"])
    assert counts["Disease"] == TypeCounts(tp=0, fp=2, fn=1)


def test_placeholder_answers_are_false_positives() -> None:
    counts = count_document({"Disease": set()}, {"Disease": ["None"]}, ["Disease"])
    assert counts["Disease"] == TypeCounts(tp=0, fp=1, fn=0)
    # The parser keeps placeholders raw instead of filtering them out.
    assert parse_response("Disease: None", ["Disease"]).entities == {"Disease": ["None"]}


def test_type_confusion_is_fp_and_fn() -> None:
    counts = count_document({"Chemical": {"cocaine"}}, {"Disease": ["cocaine"]}, TYPES)
    assert counts["Chemical"] == TypeCounts(tp=0, fp=0, fn=1)
    assert counts["Disease"] == TypeCounts(tp=0, fp=1, fn=0)


def test_counts_summed_over_documents_then_prf_macro_and_balanced_accuracy() -> None:
    doc1 = {"Chemical": TypeCounts(3, 1, 0), "Disease": TypeCounts(1, 0, 3)}
    doc2 = {"Chemical": TypeCounts(1, 1, 2), "Disease": TypeCounts(1, 2, 0)}
    m = ner_metrics([doc1, doc2], TYPES)
    # Chemical: TP 4, FP 2, FN 2 -> P 4/6, R 4/6, F1 2/3.
    assert m["precision/Chemical"] == pytest.approx(4 / 6)
    assert m["recall/Chemical"] == pytest.approx(4 / 6)
    assert m["f1/Chemical"] == pytest.approx(2 / 3)
    # Disease: TP 2, FP 2, FN 3 -> P 1/2, R 2/5, F1 = 2*0.5*0.4/0.9 = 4/9.
    assert m["precision/Disease"] == pytest.approx(0.5)
    assert m["recall/Disease"] == pytest.approx(0.4)
    assert m["f1/Disease"] == pytest.approx(4 / 9)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 9) / 2)
    # Balanced accuracy: the mean over types of TP / (TP + FN).
    assert m["balanced_accuracy"] == pytest.approx((4 / 6 + 0.4) / 2)


def test_empty_type_scores_zero_not_nan() -> None:
    m = ner_metrics([{"Disease": TypeCounts(0, 0, 0)}], ["Disease"])
    assert m["f1/Disease"] == 0.0 and m["balanced_accuracy"] == 0.0


# --- parsing -------------------------------------------------------------------------------------


def test_authors_result_literal_round_trip() -> None:
    cell = authors_result({"Disease": ["colon cancers", "None"]}, ["Disease"])
    assert ast.literal_eval(cell) == [{"type": "Disease", "response": ["colon cancers", "None"]}]
    assert parse_response(cell, ["Disease"]).entities == {"Disease": ["colon cancers", "None"]}


def test_json_object_and_code_fence() -> None:
    text = '```json\n{"Disease": ["x", "y"], "Chemical": "z; w"}\n```'
    assert parse_response(text, TYPES).entities == {"Disease": ["x", "y"], "Chemical": ["z", "w"]}


def test_type_lines_with_chinese_punctuation_and_aliases() -> None:
    text = "疾病：感染; 坏疽病变；糖尿病足\n药物：阿司匹林、布洛芬\n部位：足"
    aliases = {"疾病": "Disease", "药物": "Drug"}
    parsed = parse_response(text, ["Disease", "Drug"], aliases, separators="line")
    assert parsed.entities == {
        "Disease": ["感染", "坏疽病变", "糖尿病足"],
        "Drug": ["阿司匹林", "布洛芬"],
    }
    # One separator per response (the default): ';' is used, so '、' stays inside an entity.
    whole = parse_response(text, ["Disease", "Drug"], aliases)
    assert whole.entities["Drug"] == ["阿司匹林、布洛芬"]


def test_commas_split_only_when_followed_by_space() -> None:
    assert split_entities("2,4-D, aspirin，布洛芬") == ["2,4-D", "aspirin", "布洛芬"]
    assert split_entities("[\"cocaine\", 'heroin']") == ["cocaine", "heroin"]
    assert split_entities("(E)-stilbene (STB); (cocaine)") == ["(E)-stilbene (STB)", "cocaine"]


@pytest.mark.parametrize(
    ("text", "types", "expected"),
    [
        (  # bullets under headers; a section of an unscored type is left out
            "Diseases:\n- hepatitis\n- cirrhosis\nGenes:\n- BRCA1\nChemical entities: ethanol",
            TYPES,
            {"Disease": ["hepatitis", "cirrhosis"], "Chemical": ["ethanol"]},
        ),
        ("1. ataxia\n2. chorea", ["Disease"], {"Disease": ["ataxia", "chorea"]}),
        (  # markdown, numbered and sentence-style type lines
            "Here are the entities:\n1. **Chemicals:** lidocaine, 2,4-D\n2. Disease: **seizures**.",
            TYPES,
            {"Chemical": ["lidocaine", "2,4-D"], "Disease": ["seizures"]},
        ),
        ('["colon cancer", "None"]', ["Disease"], {"Disease": ["colon cancer", "None"]}),
    ],
)
def test_response_layouts(text: str, types: list[str], expected: dict[str, list[str]]) -> None:
    assert parse_response(text, types).entities == expected


def test_bullets_without_a_header_are_unparsable_with_several_types() -> None:
    assert not parse_response("- ataxia", TYPES).parsable


def test_prose_and_empty_are_unparsable() -> None:
    assert not parse_response("I cannot find any entity here.", TYPES).parsable
    assert not parse_response("", TYPES).parsable
    assert not parse_response("   \n", TYPES).parsable
    assert parse_response("{not json", TYPES).entities == {}


# --- separator policy (issue 8 item 6), on real Taiyi-format responses --------------------------

# Verbatim assistant turns of Taiyi NER records (samples/taiyi/, the example file):
# one entity per type line, '; ' between entities, '、' inside an entity.
TAIYI_RESPONSES = [
    "部位：足\n疾病：感染; 坏疽病变; 糖尿病足\n程度：0~5级\n",
    "临床表现：多发性脓灶; 蜂窝织炎; 窦道; 坏疽; 脓性分泌物较多; 感染病灶已侵犯深部肌肉组织; "
    "足或趾皮肤灶性干性坏疽; 感染延肌间隙扩大; 足底、足背贯通性溃疡\n程度：2级\n",
]
TAIYI_TYPES = ["Disease", "Symptom"]
TAIYI_ALIASES = {"疾病": "Disease", "临床表现": "Symptom"}


def test_semicolons_win_over_enumeration_commas_inside_entities() -> None:
    # Taiyi's answer format ('; ' between entities) keeps '、' and ', ' inside one entity.
    text = "疾病：足底、足背贯通性溃疡; 坏疽\n药物：阿司匹林、布洛芬"
    parsed = parse_response(
        text, ["Disease", "Drug"], {"疾病": "Disease", "药物": "Drug"}, separators="line"
    )
    assert parsed.entities == {
        "Disease": ["足底、足背贯通性溃疡", "坏疽"],
        "Drug": ["阿司匹林", "布洛芬"],
    }
    assert split_entities("cancer of the breast, ovary; glioma") == [
        "cancer of the breast, ovary",
        "glioma",
    ]


def test_taiyi_responses_split_on_semicolons_and_keep_enumeration_inside_entities() -> None:
    first, second = (parse_response(r, TAIYI_TYPES, TAIYI_ALIASES) for r in TAIYI_RESPONSES)
    assert first.entities == {"Disease": ["感染", "坏疽病变", "糖尿病足"]}
    assert second.entities["Symptom"][-1] == "足底、足背贯通性溃疡"
    assert len(second.entities["Symptom"]) == 9


def test_separator_is_chosen_once_per_response() -> None:
    # The Disease line holds one entity with '、'; the response separates with ';' elsewhere.
    response = "疾病：足底、足背贯通性溃疡\n临床表现：麻木; 皮温凉\n"
    parsed = parse_response(response, TAIYI_TYPES, TAIYI_ALIASES)
    assert parsed.entities == {"Disease": ["足底、足背贯通性溃疡"], "Symptom": ["麻木", "皮温凉"]}
    per_line = parse_response(response, TAIYI_TYPES, TAIYI_ALIASES, separators="line")
    assert per_line.entities["Disease"] == ["足底", "足背贯通性溃疡"]


def test_leading_conjunction_of_a_list_is_not_part_of_the_entity() -> None:
    parsed = parse_response("Disease: cancer of breast, ovary, and colon", ["Disease"])
    assert parsed.entities == {"Disease": ["cancer of breast", "ovary", "colon"]}
    assert split_entities("肝炎、及肝硬化、和胃炎") == ["肝炎", "肝硬化", "胃炎"]


def test_unknown_separator_policy_names_the_key() -> None:
    with pytest.raises(BioqwenError, match=r"benchmark\.entity_separators='word'"):
        parse_response("Disease: a", ["Disease"], separators="word")
