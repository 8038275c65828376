"""ChatML rendering and tokenization with assistant-only loss masks.

One tokenization of the whole rendered conversation, with character offsets, decides which
tokens are trained: exactly the tokens of each assistant reply plus its closing `<|im_end|>`.
Tokenizing the turns separately would let BPE merges differ at the turn boundaries.
System prompts are not read here: each job passes its composed `data.system_prompts`
(conf/data/system_prompts/, with its command-line overrides).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from bioqwen.data.tokenizer import IM_END, IM_START

IGNORE_INDEX = -100


Message = Mapping[str, str]


@dataclass(frozen=True)
class RenderedChat:
    """A ChatML string and where each message's content lies in it: (role, start, end)."""

    text: str
    content_spans: tuple[tuple[str, int, int], ...]

    @property
    def trained_spans(self) -> tuple[tuple[int, int], ...]:
        """Character spans [start, end) that are trained: each assistant reply plus im_end."""
        return tuple(
            (start, end + len(IM_END))
            for role, start, end in self.content_spans
            if role == "assistant"
        )


def with_system(messages: Sequence[Message], system_prompt: str | None) -> list[dict[str, str]]:
    """Prepend a system turn unless the conversation already has one or none is given."""
    turns = [dict(m) for m in messages]
    if system_prompt and (not turns or turns[0]["role"] != "system"):
        turns.insert(0, {"role": "system", "content": system_prompt})
    return turns


def render(messages: Sequence[Message], add_generation_prompt: bool = False) -> RenderedChat:
    """Render messages as ChatML, recording where each message's content lies."""
    parts: list[str] = []
    spans: list[tuple[str, int, int]] = []
    length = 0
    for message in messages:
        header = f"{IM_START}{message['role']}\n"
        start = length + len(header)
        end = start + len(message["content"])
        parts.append(f"{header}{message['content']}{IM_END}\n")
        spans.append((message["role"], start, end))
        length = end + len(IM_END) + 1
    if add_generation_prompt:
        parts.append(f"{IM_START}assistant\n")
    return RenderedChat("".join(parts), tuple(spans))


def encode(messages: Sequence[Message], tokenizer: PreTrainedTokenizerBase) -> dict[str, list[int]]:
    """Tokenize a conversation: input_ids, labels (-100 outside assistant replies), mask."""
    chat = render(messages)
    enc = tokenizer(chat.text, return_offsets_mapping=True, add_special_tokens=False)
    trained = chat.trained_spans
    mask = [0] * len(enc["input_ids"])
    span_index = 0
    for i, (start, _end) in enumerate(enc["offset_mapping"]):
        while span_index < len(trained) and start >= trained[span_index][1]:
            span_index += 1
        if span_index < len(trained):
            span_start, span_end = trained[span_index]
            mask[i] = int(span_start <= start < span_end)
    ids = list(enc["input_ids"])
    labels = [tok if keep else IGNORE_INDEX for tok, keep in zip(ids, mask, strict=True)]
    return {"input_ids": ids, "labels": labels, "assistant_masks": mask}


def prompt_text(messages: Sequence[Message]) -> str:
    """ChatML text of the conversation up to and including the assistant header, for generation."""
    turns = [m for m in messages if m["role"] != "assistant"]
    return render(turns, add_generation_prompt=True).text
