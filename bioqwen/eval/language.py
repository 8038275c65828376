"""Language fidelity: does a response answer in the prompt's language, in the expected scripts?

The paper describes BioQwen-0.5B answering English questions in Chinese and BioQwen-1.5B
emitting Thai during NER but never measures it. Language and script come from
bioqwen.data.language (the rule prepare uses too). A response without letters (an empty NER
answer, a number) has no language and is not counted as answering in the wrong one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bioqwen.data.language import detect_language, other_scripts


def fidelity_metrics(responses: Sequence[str], lang: str) -> dict[str, float]:
    """Share of responses in `lang`, share with other-script letters, and that share by script."""
    if not responses:
        return {"language_fidelity": 0.0, "other_script_rate": 0.0}
    in_lang = sum(1 for r in responses if detect_language(r) in (lang, None))
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
