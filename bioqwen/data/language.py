"""Language and script of a text: one rule for prepare (records) and eval (responses).

A text's language is the larger of its Han character count and its Latin word count (a Han
character carries about a word's meaning, so counting Latin letters would let a few English
terms outvote a Chinese answer); a text with neither has no language. Letters of any script
other than Latin, Han and Greek (Greek letters are routine in biomedical text: α-synuclein)
mark a response as containing another script. Symbols that are letters only by Unicode
category (Å ANGSTROM SIGN, Ω OHM SIGN, ℓ SCRIPT SMALL L, 々 iteration mark) count as the
script they stand for.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

EXPECTED_SCRIPTS = frozenset({"LATIN", "CJK", "GREEK"})
_LATIN_WORD = re.compile(r"[A-Za-z\u00C0-\u024F]+")
# First words of Unicode names that are not scripts: µ is Greek mu; ordinal and modifier
# letters (ª, ʼ) belong to no script worth flagging; 々 〆 〇 are Han marks.
_NAME_FOLDS: dict[str, str | None] = {
    "MICRO": "GREEK",
    "MODIFIER": None,
    "FEMININE": None,
    "MASCULINE": None,
    "IDEOGRAPHIC": "CJK",
}
# Letterlike and mathematical alphanumeric symbols are notation (ℵ0, Ⅎ), never another script.
_SYMBOL_BLOCKS = ((0x2100, 0x214F), (0x1D400, 0x1D7FF))


@lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    """Script of a letter (first word of its Unicode name after NFKC), None if not a letter."""
    if not unicodedata.category(char).startswith("L"):
        return None
    symbol = any(low <= ord(char) <= high for low, high in _SYMBOL_BLOCKS)
    # NFKC maps letter-like symbols to the letters they stand for (Å -> Å, ℓ -> l, Ω -> Ω).
    folded = unicodedata.normalize("NFKC", char)
    char = folded[0] if len(folded) == 1 else char
    name = unicodedata.name(char, "")
    if not name:
        return "UNKNOWN"
    words = name.split()
    if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1:
        words = words[1:]
    script = _NAME_FOLDS.get(words[0], words[0])
    return None if symbol and script not in EXPECTED_SCRIPTS else script


def detect_language(text: str) -> str | None:
    """'zh' or 'en' by Han characters vs Latin words; None for a text with neither."""
    han = sum(1 for ch in text if script_of(ch) == "CJK")
    latin_words = len(_LATIN_WORD.findall(text))
    if han == 0 and latin_words == 0:
        return None
    return "zh" if han >= latin_words else "en"


def other_scripts(text: str) -> set[str]:
    """Scripts of the letters in text other than Latin, Han and Greek (e.g. {'THAI'})."""
    return {s for ch in text if (s := script_of(ch)) is not None and s not in EXPECTED_SCRIPTS}
