"""QA metrics with the recipe that reproduces the paper's Table 3 from the authors' predictions.

Tokens are characters (`list(text)`, whitespace kept). BLEU-n is the mean of NLTK
`sentence_bleu` with cumulative weights (1,), (0.5, 0.5), (0.33, 0.33, 0.33) — 0.33, not 1/3,
as the authors wrote it — and (0.25,) * 4, smoothing method1; GLEU is the mean NLTK
`sentence_gleu` with defaults; ROUGE-1/2/L are the `rouge` package 1.0.1 scores on the tokens
joined by spaces. Everything is multiplied by 100.

ROUGE is re-implemented here, bit for bit (tests compare it with the package): the package's
LCS builds a dict-of-tuples table and reconstructs the subsequence recursively, which is slow
and needs a raised recursion limit on long answers. This version fills the same table row by
row in lists and backtracks iteratively with the package's exact tie-breaking, so the
reconstructed token set — and therefore the score — is identical.

An empty hypothesis or reference scores 0 on every metric (the package would raise).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu

BLEU_WEIGHTS: dict[str, tuple[float, ...]] = {
    "bleu-1": (1.0,),
    "bleu-2": (0.5, 0.5),
    "bleu-3": (0.33, 0.33, 0.33),
    "bleu-4": (0.25, 0.25, 0.25, 0.25),
}
QA_KEYS = (*BLEU_WEIGHTS, "gleu", "rouge-1", "rouge-2", "rouge-l")
_WORD = re.compile(r"\w+|[^\w\s]")
_SMOOTH = SmoothingFunction().method1


def char_tokens(text: str) -> list[str]:
    """Character tokens, whitespace kept (the paper's tokenisation for every language)."""
    return list(text)


def word_tokens(text: str) -> list[str]:
    """Word tokens for the English word-level variant: runs of word characters and punctuation."""
    return _WORD.findall(text)


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"char": char_tokens, "word": word_tokens}


@dataclass(frozen=True)
class QaScores:
    """Per-sample metric values (0-1) in QA_KEYS order."""

    values: tuple[float, ...]


def _sentences(tokens: Sequence[str]) -> list[list[str]]:
    """The rouge package's preprocessing of `" ".join(tokens)`: split on '.', squash spaces."""
    text = " ".join(tokens)
    return [" ".join(part.split()).split(" ") for part in text.split(".") if len(part) > 0]


def _rouge_n(hyp: list[list[str]], ref: list[list[str]], n: int) -> float:
    hyp_words = [w for s in hyp for w in s]
    ref_words = [w for s in ref for w in s]
    hyp_grams = {tuple(hyp_words[i : i + n]) for i in range(len(hyp_words) - n + 1)}
    ref_grams = {tuple(ref_words[i : i + n]) for i in range(len(ref_words) - n + 1)}
    overlap = len(hyp_grams & ref_grams)
    precision = overlap / len(hyp_grams) if hyp_grams else 0.0
    recall = overlap / len(ref_grams) if ref_grams else 0.0
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def lcs_tokens(x: Sequence[str], y: Sequence[str]) -> set[str]:
    """Tokens of the LCS of x and y that rouge 1.0.1's `_recon_lcs` reconstructs (as a set)."""
    n, m = len(x), len(y)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        xi = x[i - 1]
        row, above = table[i], table[i - 1]
        for j in range(1, m + 1):
            if xi == y[j - 1]:
                row[j] = above[j - 1] + 1
            else:
                left = row[j - 1]
                up = above[j]
                row[j] = up if up > left else left
    found: set[str] = set()
    i, j = n, m
    while i > 0 and j > 0:
        if x[i - 1] == y[j - 1]:
            found.add(x[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return found


def _rouge_l(hyp: list[list[str]], ref: list[list[str]]) -> float:
    m = len({w for s in ref for w in s})
    n = len({w for s in hyp for w in s})
    union: set[str] = set()
    for ref_sentence in ref:
        for hyp_sentence in hyp:
            union |= lcs_tokens(ref_sentence, hyp_sentence)
    llcs = len(union)
    recall, precision = llcs / m, llcs / n
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def rouge_scores(
    hyp_tokens: Sequence[str], ref_tokens: Sequence[str]
) -> tuple[float, float, float]:
    """ROUGE-1, ROUGE-2, ROUGE-L F of one pair, as `rouge` 1.0.1 on space-joined tokens."""
    hyp, ref = _sentences(hyp_tokens), _sentences(ref_tokens)
    if not hyp or not ref:
        return 0.0, 0.0, 0.0
    return _rouge_n(hyp, ref, 1), _rouge_n(hyp, ref, 2), _rouge_l(hyp, ref)


def score_pair(hypothesis: str, reference: str, tokens: str = "char") -> QaScores:
    """Every QA metric (0-1) of one response against its gold answer."""
    tokenize = TOKENIZERS[tokens]
    hyp, ref = tokenize(hypothesis), tokenize(reference)
    if not hyp or not ref:
        return QaScores((0.0,) * len(QA_KEYS))
    bleu = [
        float(sentence_bleu([ref], hyp, weights=w, smoothing_function=_SMOOTH))
        for w in BLEU_WEIGHTS.values()
    ]
    gleu = float(sentence_gleu([ref], hyp))
    return QaScores((*bleu, gleu, *rouge_scores(hyp, ref)))


def score_items(
    hypotheses: Sequence[str], references: Sequence[str], tokens: str = "char"
) -> list[QaScores]:
    """Every QA metric (0-1) of each pair, in order (what means and bootstraps are built on)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return [score_pair(h, r, tokens) for h, r in zip(hypotheses, references, strict=True)]


def mean_scores(items: Sequence[QaScores]) -> dict[str, float]:
    """Mean of every QA metric over scored pairs, x100, keyed bleu-1..4, gleu, rouge-1/2/l."""
    if not items:
        return dict.fromkeys(QA_KEYS, 0.0)
    return {
        key: 100.0 * sum(s.values[k] for s in items) / len(items) for k, key in enumerate(QA_KEYS)
    }


def score_qa(
    hypotheses: Sequence[str], references: Sequence[str], tokens: str = "char"
) -> dict[str, float]:
    """Mean of every QA metric over the pairs, x100, keyed bleu-1..4, gleu, rouge-1/2/l."""
    return mean_scores(score_items(hypotheses, references, tokens))
