"""QA metrics: the paper's recipe, the known webMedQA answer, and ROUGE equal to the package."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge import Rouge

from bioqwen.eval import qa
from bioqwen.eval.scoring import read_predictions
from tests.eval.known_answers import ICLINIQ, WEBMEDQA, WEBMEDQA_KNOWN


def test_webmedqa_known_answer() -> None:
    rows = read_predictions(WEBMEDQA, "qa")
    metrics = qa.score_qa([r.response for r in rows], [r.answer for r in rows])
    assert {k: round(v, 3) for k, v in metrics.items()} == WEBMEDQA_KNOWN


def test_bleu3_uses_033_weights_not_one_third() -> None:
    hyp, ref = list("高血压患者应该低盐饮食"), list("高血压病人需要低盐低脂饮食")
    ours = qa.score_pair("".join(hyp), "".join(ref)).values[2]
    smooth = SmoothingFunction().method1
    third = sentence_bleu([ref], hyp, weights=(1 / 3,) * 3, smoothing_function=smooth)
    assert ours != pytest.approx(third, abs=1e-9)
    assert ours == pytest.approx(
        sentence_bleu([ref], hyp, weights=(0.33,) * 3, smoothing_function=smooth)
    )


def test_characters_keep_whitespace() -> None:
    assert qa.char_tokens("a b") == ["a", " ", "b"]
    assert qa.word_tokens("Hi, doctor's advice.") == ["Hi", ",", "doctor", "'", "s", "advice", "."]


def test_empty_response_scores_zero() -> None:
    metrics = qa.score_qa(["", "答案"], ["答案一二三", "答案"])
    # The second pair is perfect on ROUGE-1; the empty one contributes zero, never an exception.
    assert metrics["rouge-1"] == pytest.approx(50.0, abs=1e-4)
    assert all(v == 0.0 for v in qa.score_pair("", "答案").values)
    assert all(v == 0.0 for v in qa.score_pair("...", "答案").values)  # no sentence left


def test_identical_texts_score_full_rouge() -> None:
    r1, r2, rl = qa.rouge_scores(list("abcdef"), list("abcdef"))
    assert r1 == pytest.approx(1.0, abs=1e-6) and r2 == pytest.approx(1.0, abs=1e-6)
    assert rl == pytest.approx(1.0, abs=1e-6)


def test_rouge_matches_package_on_released_icliniq_rows() -> None:
    # The package's LCS recurses per character. The limit is restored afterwards: left raised,
    # it let json's C scanner overflow the C stack (a segfault) in later tests.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        rows = read_predictions(ICLINIQ, "qa")[:5]
        for row in rows:
            ours = qa.rouge_scores(list(row.response), list(row.answer))
            ref = Rouge().get_scores(" ".join(row.response), " ".join(row.answer))[0]
            assert ours == (ref["rouge-1"]["f"], ref["rouge-2"]["f"], ref["rouge-l"]["f"])
    finally:
        sys.setrecursionlimit(limit)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab c.。d", max_size=25), st.text(alphabet="abc. d", max_size=25))
def test_rouge_equals_package(hyp: str, ref: str) -> None:
    try:
        expected = Rouge().get_scores(" ".join(hyp), " ".join(ref))[0]
    except ValueError:  # the package refuses empty sides; ours scores them zero
        assert qa.rouge_scores(list(hyp), list(ref)) == (0.0, 0.0, 0.0)
        return
    ours = qa.rouge_scores(list(hyp), list(ref))
    assert ours == (expected["rouge-1"]["f"], expected["rouge-2"]["f"], expected["rouge-l"]["f"])


def test_mismatched_lengths_rejected() -> None:
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        qa.score_qa(["a", "b"], ["a"])
