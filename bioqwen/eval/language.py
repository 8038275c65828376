"""Language fidelity: does a response answer in the prompt's language, in the expected scripts?

The paper describes BioQwen-0.5B answering English questions in Chinese and BioQwen-1.5B
emitting Thai during NER but never measures it. Language and script come from
bioqwen.data.language (the rule prepare uses too). A response without letters (an empty NER
answer, a number) has no language and is not counted as answering in the wrong one.
Per-response 0/1 columns (`fidelity_columns`) are what the bootstrap resamples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bioqwen.data.language import detect_language, other_scripts


def fidelity_columns(responses: Sequence[str], lang: str) -> dict[str, np.ndarray]:
    """Per response: in `lang` (or no language), has other-script letters, and which scripts."""
    found = [other_scripts(r) for r in responses]
    columns = {
        "language_fidelity": np.array([detect_language(r) in (lang, None) for r in responses]),
        "other_script_rate": np.array([bool(s) for s in found]),
    }
    for script in sorted(set().union(*found)):
        columns[f"other_script/{script.lower()}"] = np.array([script in s for s in found])
    return {k: v.astype(float) for k, v in columns.items()}


def fidelity_metrics(responses: Sequence[str], lang: str) -> dict[str, float]:
    """Share of responses in `lang`, share with other-script letters, and that share by script."""
    n = len(responses)
    return {
        k: float(v.sum() / n) if n else 0.0 for k, v in fidelity_columns(responses, lang).items()
    }
