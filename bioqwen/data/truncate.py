"""Paragraph-aware truncation of a ChatML sample to a token limit (paper 2.3.1.1).

The last assistant reply loses whole trailing newline-delimited paragraphs until the sample
fits; when not even its first paragraph fits, the cut falls back to the last sentence end
(。！？ or . ! ? before whitespace) that fits. The prompt is never cut: a sample whose prompt
alone exceeds the limit is dropped, as is one with no boundary that fits. The result is
re-rendered, so it still ends with `<|im_end|>`.

Unlike the authors' loop (re-tokenize after every dropped paragraph, and compare a character
index with a token count), this tokenizes once with offsets: the character position of the
first token that no longer fits bounds the cut, one reverse scan finds the boundary, and one
encode of the shorter text confirms the count, so the work is O(length).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase

from bioqwen.data.chatml import Message, RenderedChat, render

# Sentence ends: CJK full stops always; ASCII ones only before whitespace (not '3.5', 'e.g.x').
SENTENCE_END = re.compile(r"[。！？]|[.!?](?=\s)")


@dataclass(frozen=True)
class Fitted:
    """The outcome for one sample: its messages and token count, or why it was dropped."""

    messages: list[dict[str, str]] | None
    n_tokens: int
    mode: str  # none | paragraph | sentence | dropped
    reason: str | None = None


def tokens_in(starts: Sequence[int], begin: int, end: int) -> int:
    """How many tokens start inside the character range [begin, end)."""
    return bisect_left(starts, end) - bisect_left(starts, begin)


def side_counts(chat: RenderedChat, starts: Sequence[int]) -> tuple[int, int]:
    """(prompt tokens, answer tokens): tokens of the user and of the assistant contents."""
    prompt = answer = 0
    for role, begin, end in chat.content_spans:
        if role == "user":
            prompt += tokens_in(starts, begin, end)
        elif role == "assistant":
            answer += tokens_in(starts, begin, end)
    return prompt, answer


def _backend(tokenizer: PreTrainedTokenizerBase) -> Any:
    """The Rust tokenizer behind a fast tokenizer (no per-call Python wrapping)."""
    return tokenizer.backend_tokenizer


def encode_starts(text: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Start character offset of every token of text (special tokens included)."""
    return [
        start for start, _ in _backend(tokenizer).encode(text, add_special_tokens=False).offsets
    ]


# How far a prefix encode may end from the cut: tokens starting this many characters before the
# prefix end are those of the full text (a pretoken longer than this is not expected in text).
_PREFIX_MARGIN = 256


def _leading_starts(text: str, tokenizer: PreTrainedTokenizerBase, max_tokens: int) -> list[int]:
    """Token starts of text, or only of a prefix that provably holds more than max_tokens tokens.

    Truncation only needs the first max_tokens token positions, so a long text is encoded only
    about as far as the limit reaches: a first guess of 2 characters per token, then one more
    try sized by the characters per token seen, else the whole text.
    """
    bound = 2 * max_tokens
    for _ in range(2):
        if len(text) <= bound + _PREFIX_MARGIN:
            break
        starts = encode_starts(text[:bound], tokenizer)
        if len(starts) > max_tokens and starts[max_tokens] < bound - _PREFIX_MARGIN:
            return starts
        per_token = bound / max(len(starts), 1)
        bound = int(per_token * (max_tokens + 1) * 1.25) + 2 * _PREFIX_MARGIN
    return encode_starts(text, tokenizer)


def fit(
    messages: Sequence[Message],
    tokenizer: PreTrainedTokenizerBase,
    max_tokens: int,
    starts: Sequence[int] | None = None,
) -> Fitted:
    """Fit a conversation into max_tokens by cutting its last assistant reply on a boundary.

    `starts` are the token start offsets of `chatml.render(messages).text` when the caller
    has already tokenized it (the pipeline does, in batches); otherwise it is tokenized here
    (only as far as the limit needs).
    """
    chat = render(messages)
    text = chat.text
    if starts is None:
        starts = _leading_starts(text, tokenizer, max_tokens)
    if len(starts) <= max_tokens:
        return Fitted([dict(m) for m in messages], len(starts), "none")
    if not messages or messages[-1]["role"] != "assistant":
        return Fitted(None, len(starts), "dropped", "over_limit_without_answer")
    _, content_start, content_end = chat.content_spans[-1]
    # Special tokens split the text before pre-tokenization, so the tokens before the last
    # message's `<|im_start|>` stay as they are and only "assistant\n" + reply is re-encoded.
    header = "assistant\n"
    segment = content_start - len(header)
    before = bisect_left(starts, segment)
    # The kept reply is followed by `<|im_end|>` and "\n": two tokens of the budget.
    budget = max_tokens - 2
    # Any cut at or before the start of token #budget keeps at most `budget` tokens before it.
    limit = starts[budget] if budget >= 0 else 0
    backend = _backend(tokenizer)
    while True:
        if limit <= content_start:
            return Fitted(None, len(starts), "dropped", "prompt_exceeds_max_tokens")
        cut, mode = _boundary(text, content_start, min(limit, content_end))
        if cut is None:
            return Fitted(None, len(starts), "dropped", "no_boundary_fits")
        kept = text[content_start:cut].rstrip()
        tail = backend.encode(header + kept, add_special_tokens=False)
        n_tokens = before + len(tail.ids) + 2
        if n_tokens <= max_tokens:
            new = [dict(m) for m in messages[:-1]] + [{"role": "assistant", "content": kept}]
            return Fitted(new, n_tokens, mode)
        # BPE merged differently at the new end (rare): try the boundary before this one.
        limit = cut - 1


def _boundary(text: str, begin: int, limit: int) -> tuple[int | None, str]:
    """The furthest paragraph end, else sentence end, in text[begin:limit] with content before."""
    newline = text.rfind("\n", begin, limit + 1)
    while newline > begin:
        if text[begin:newline].strip():
            return newline, "paragraph"
        newline = text.rfind("\n", begin, newline)
    last = None
    for match in SENTENCE_END.finditer(text, begin, limit + 1):
        if match.end() <= limit:
            last = match.end()
    return last, "sentence"
