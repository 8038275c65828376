"""Language fidelity: response language and other-script letters."""

from __future__ import annotations

import pytest

from bioqwen.eval.language import detect_language, fidelity_metrics, other_scripts, script_of


def test_detect_language_counts_han_characters_against_latin_words() -> None:
    assert detect_language("建议您服用阿司匹林 aspirin") == "zh"
    assert detect_language("Take aspirin twice a day 每日") == "en"
    assert detect_language("123 ...") is None


def test_greek_micro_and_fullwidth_are_expected_scripts() -> None:
    assert other_scripts("β-catenin, 5 µg, ＡＢＣ, 中文") == set()
    assert script_of("µ") == "GREEK"


def test_thai_and_other_scripts_are_flagged() -> None:
    assert other_scripts("Disease: เบาหวาน") == {"THAI"}
    assert other_scripts("ひらがな 한국어") == {"HIRAGANA", "HANGUL"}


def test_fidelity_metrics() -> None:
    metrics = fidelity_metrics(["你好，请多喝水。", "Drink water.", "Disease: เบาหวาน", ""], "en")
    assert metrics["language_fidelity"] == pytest.approx(0.5)
    assert metrics["other_script_rate"] == pytest.approx(0.25)
    assert metrics["other_script/thai"] == pytest.approx(0.25)
    assert fidelity_metrics([], "zh") == {"language_fidelity": 0.0, "other_script_rate": 0.0}
