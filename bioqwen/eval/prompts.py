"""Prompts for evaluation: Taiyi-style NER instructions and QA questions, as ChatML turns.

The NER instruction follows the Taiyi instruction data (task line, the text, then the entity
options, e.g. '请识别以下文本中的实体：\\n{text}\\n实体类型：{types}'); the template lives in
conf/benchmark/<name>.yaml. The system prompt is the authors' one for the benchmark language
for BioQwen models (`system_prompt: bioqwen` in conf/model/, and every model a training run
produced: training rows carry that prompt), none for baselines (they are prompted as
themselves), unless the benchmark sets one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bioqwen.data.chatml import prompt_text, with_system
from bioqwen.errors import BioqwenError
from bioqwen.eval.gold import NerDocument, QaItem, entity_types
from bioqwen.runs import LINEAGE_FILE, read_json

TYPE_SEPARATORS = {"zh": "，", "en": ", "}
# A model config's `system_prompt: bioqwen`: the BioQwen authors' prompt for the language.
BIOQWEN = "bioqwen"


def user_text(cfg: Mapping[str, Any], item: NerDocument | QaItem) -> str:
    """The user turn for one benchmark item (instruction + text, or the question)."""
    template = str(cfg["prompt_template"])
    if isinstance(item, QaItem):
        text, types = item.question, ""
    else:
        names = cfg["type_names"]
        sep = TYPE_SEPARATORS.get(str(cfg["lang"]), ", ")
        types = sep.join(str(names.get(t, t)) for t in entity_types(cfg))
        text = item.input_text(str(cfg["input"]))
    try:
        return template.format(text=text, types=types)
    except (KeyError, IndexError, ValueError) as err:
        raise BioqwenError(
            f"benchmark.prompt_template: {err!r}; use only {{text}} and {{types}} "
            "(double other braces)"
        ) from err


def system_prompt(
    cfg: Mapping[str, Any], model_prompt: str | None, system_prompts: Mapping[str, str]
) -> str | None:
    """The system turn for a benchmark: its own `system_prompt` when set, else the model's.

    A model's `system_prompt` is `bioqwen` (the BioQwen authors' prompt in the benchmark's
    language: `system_prompts`, the job's composed data.system_prompts), null (no system turn:
    the model's own default, from its chat template) or a text used as is.
    """
    if cfg["system_prompt"] is not None:
        return str(cfg["system_prompt"])
    if model_prompt == BIOQWEN:
        lang = str(cfg["lang"])
        if lang not in system_prompts:
            raise BioqwenError(
                f"data.system_prompts has no {lang!r} prompt (benchmark.lang={lang}); "
                f"it has {', '.join(system_prompts) or 'none'}"
            )
        return str(system_prompts[lang])
    return model_prompt


def model_runs(source: str) -> list[Path]:
    """The run directory a model directory belongs to (lineage.json in it or above merged/)."""
    return [p for p in (Path(source), Path(source).parent) if (p / LINEAGE_FILE).exists()][:1]


def model_system_prompt(configured: str | None, runs: list[Path]) -> str | None:
    """The model's `system_prompt`; null becomes BIO-QWEN for a model of a training run."""
    trained = any(read_json(run / LINEAGE_FILE).get("job") == "train" for run in runs)
    return BIOQWEN if configured is None and trained else configured


def messages_for(
    cfg: Mapping[str, Any],
    item: NerDocument | QaItem,
    model_prompt: str | None = BIOQWEN,
    *,
    system_prompts: Mapping[str, str],
) -> list[dict[str, str]]:
    """System (see `system_prompt`) and user turns for one item."""
    return with_system(
        [{"role": "user", "content": user_text(cfg, item)}],
        system_prompt(cfg, model_prompt, system_prompts),
    )


def chat_prompt(
    cfg: Mapping[str, Any], item: NerDocument | QaItem, system_prompts: Mapping[str, str]
) -> str:
    """The ChatML text the model continues (ends with the assistant header)."""
    return prompt_text(messages_for(cfg, item, system_prompts=system_prompts))
