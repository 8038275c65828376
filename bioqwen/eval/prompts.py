"""Prompts for evaluation: Taiyi-style NER instructions and QA questions, as ChatML turns.

The NER instruction follows the Taiyi instruction data (task line, the text, then the entity
options, e.g. '请识别以下文本中的实体：\\n{text}\\n实体类型：{types}'); the template lives in
conf/benchmark/<name>.yaml. The system prompt is the authors' one for the benchmark language
unless the benchmark sets its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bioqwen.data.chatml import DEFAULT_SYSTEM_PROMPTS, prompt_text, with_system
from bioqwen.errors import BioqwenError
from bioqwen.eval.benchmarks import NerDocument, QaItem, entity_types

TYPE_SEPARATORS = {"zh": "，", "en": ", "}


def user_text(cfg: Mapping[str, Any], item: NerDocument | QaItem) -> str:
    """The user turn for one benchmark item (instruction + text, or the question)."""
    template = str(cfg.get("prompt_template") or "{text}")
    if isinstance(item, QaItem):
        text, types = item.question, ""
    else:
        names = cfg.get("type_names") or {}
        sep = TYPE_SEPARATORS.get(str(cfg["lang"]), ", ")
        types = sep.join(str(names.get(t, t)) for t in entity_types(cfg))
        text = item.input_text(str(cfg.get("input") or "abstract"))
    try:
        return template.format(text=text, types=types)
    except (KeyError, IndexError, ValueError) as err:
        raise BioqwenError(
            f"benchmark.prompt_template: {err!r}; use only {{text}} and {{types}} "
            "(double other braces)"
        ) from err


def messages_for(cfg: Mapping[str, Any], item: NerDocument | QaItem) -> list[dict[str, str]]:
    """System (by language) and user turns for one item."""
    lang = str(cfg["lang"])
    system = cfg.get("system_prompt")
    if system is None:
        system = DEFAULT_SYSTEM_PROMPTS.get(lang)
    return with_system([{"role": "user", "content": user_text(cfg, item)}], system)


def chat_prompt(cfg: Mapping[str, Any], item: NerDocument | QaItem) -> str:
    """The ChatML text the model continues (ends with the assistant header)."""
    return prompt_text(messages_for(cfg, item))
