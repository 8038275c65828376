"""Language and script of a text (bioqwen.data.language) and eval's fidelity metrics."""

from __future__ import annotations

import pytest

from bioqwen.data.language import detect_language, other_scripts, script_of
from bioqwen.eval.language import fidelity_metrics


def test_detect_language_counts_han_characters_against_latin_words() -> None:
    assert detect_language("建议您服用阿司匹林 aspirin") == "zh"
    assert detect_language("Take aspirin twice a day 每日") == "en"
    assert detect_language("123 ...") is None
    # One rule for prepare and eval: a Chinese prompt with a few English names is Chinese.
    assert detect_language("Jack夫妇请了Tom夫妇和Henrry夫妇来他们家玩扑克。") == "zh"


def test_greek_micro_and_fullwidth_are_expected_scripts() -> None:
    assert other_scripts("β-catenin, 5 µg, ＡＢＣ, 中文") == set()
    assert script_of("µ") == "GREEK"


@pytest.mark.parametrize(
    ("symbol", "script"), [("Å", "LATIN"), ("Ω", "GREEK"), ("ℓ", "LATIN"), ("々", "CJK")]
)
def test_letter_like_symbols_are_the_script_they_stand_for(symbol: str, script: str) -> None:
    assert script_of(symbol) == script
    assert other_scripts(f"5 {symbol} 的长度") == set()


def test_notation_symbols_are_no_script() -> None:
    # ℵ0 (aleph null), Ⅎ and 𝔄 are mathematical notation, not Hebrew or another alphabet.
    assert other_scripts("|ℕ| = ℵ0, ℶ1, Ⅎ, 𝔄, ⅎ") == set()
    assert script_of("ℵ") is None and script_of("𝔄") == "LATIN"


def test_thai_and_other_scripts_are_flagged() -> None:
    assert other_scripts("Disease: เบาหวาน") == {"THAI"}
    assert other_scripts("ひらがな 한국어") == {"HIRAGANA", "HANGUL"}


def test_fidelity_metrics() -> None:
    metrics = fidelity_metrics(["你好，请多喝水。", "Drink water.", "Disease: เบาหวาน", "12"], "en")
    assert metrics["language_fidelity"] == pytest.approx(0.75)
    assert metrics["other_script_rate"] == pytest.approx(0.25)
    assert metrics["other_script/thai"] == pytest.approx(0.25)
    assert fidelity_metrics([], "zh") == {"language_fidelity": 0.0, "other_script_rate": 0.0}


def test_a_response_without_letters_is_not_the_wrong_language() -> None:
    # An empty NER answer or a bare number answers in no language, so it is not counted wrong.
    assert fidelity_metrics(["", "[]", "42"], "zh")["language_fidelity"] == 1.0
