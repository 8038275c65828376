"""Language fidelity: does a response answer in the prompt's language, in the expected scripts?

The paper describes BioQwen-0.5B answering English questions in Chinese and BioQwen-1.5B
emitting Thai during NER but never measures it. Here a response's language is the larger of
its Han character count and its Latin word count (a Han character carries about a word's
meaning, so counting Latin letters would let a few English terms outvote a Chinese answer).
Letters of any script other than Latin, Han and Greek (Greek letters are routine in
biomedical text: α-synuclein, β-catenin) mark the response as containing another script.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

EXPECTED_SCRIPTS = frozenset({"LATIN", "CJK", "GREEK"})
_LATIN_WORD = re.compile(r"[A-Za-z\u00C0-\u024F]+")
# Letters whose Unicode name does not start with a script: µ is Greek mu; ordinal and modifier
# letters (ª, ʼ) belong to no script worth flagging.
_NAME_FOLDS: dict[str, str | None] = {
    "MICRO": "GREEK",
    "MODIFIER": None,
    "FEMININE": None,
    "MASCULINE": None,
}


@lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    """Script of a letter (first word of its Unicode name, FULLWIDTH folded), None if not one."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if not name:
        return "UNKNOWN"
    words = name.split()
    if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1:
        words = words[1:]
    return _NAME_FOLDS.get(words[0], words[0])


def detect_language(text: str) -> str | None:
    """'zh' or 'en' by Han characters vs Latin words; None for a response with neither."""
    han = sum(1 for ch in text if script_of(ch) == "CJK")
    latin_words = len(_LATIN_WORD.findall(text))
    if han == 0 and latin_words == 0:
        return None
    return "zh" if han >= latin_words else "en"


def other_scripts(text: str) -> set[str]:
    """Scripts of the letters in text other than Latin, Han and Greek (e.g. {'THAI'})."""
    return {s for ch in text if (s := script_of(ch)) is not None and s not in EXPECTED_SCRIPTS}


def fidelity_metrics(responses: Sequence[str], lang: str) -> dict[str, float]:
    """Share of responses in `lang`, share with other-script letters, and that share by script."""
    if not responses:
        return {"language_fidelity": 0.0, "other_script_rate": 0.0}
    in_lang = sum(1 for r in responses if detect_language(r) == lang)
    by_script: Counter[str] = Counter()
    with_other = 0
    for response in responses:
        scripts = other_scripts(response)
        with_other += bool(scripts)
        by_script.update(scripts)
    n = len(responses)
    metrics = {"language_fidelity": in_lang / n, "other_script_rate": with_other / n}
    metrics.update({f"other_script/{s.lower()}": c / n for s, c in sorted(by_script.items())})
    return metrics
