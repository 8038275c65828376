"""Prompts: Taiyi-style NER instructions, QA questions, system prompt by language."""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.eval import gold, prompts
from tests.conftest import system_prompts


def _bench(compose, name: str, *overrides: str) -> dict[str, Any]:
    cfg = compose("evaluate", f"benchmark={name}", "benchmark.limit=1", *overrides)
    return OmegaConf.to_container(cfg.benchmark, resolve=True)  # type: ignore[return-value]


def test_cmeee_prompt_is_taiyi_style_chinese(compose) -> None:
    cfg = _bench(compose, "cmeee")
    (doc,) = gold.load_benchmark(cfg).items
    messages = prompts.messages_for(cfg, doc, system_prompts=system_prompts())
    assert messages[0] == {"role": "system", "content": system_prompts()["zh"]}
    assert messages[1]["content"] == f"请识别以下文本中的实体：\n{doc.text}\n实体类型：疾病，药物"


def test_bc5cdr_prompt_lists_types_and_uses_abstract_only(compose) -> None:
    cfg = _bench(compose, "bc5cdr")
    (doc,) = gold.load_benchmark(cfg).items
    user = prompts.messages_for(cfg, doc, system_prompts=system_prompts())[1]["content"]
    assert user.endswith("\nEntity types: chemical, disease")
    assert doc.text in user and doc.title not in user
    cfg2 = _bench(compose, "bc5cdr", "benchmark.input=title_abstract")
    assert doc.title in prompts.user_text(cfg2, doc)


def test_qa_question_is_the_user_turn_and_chatml_ends_with_assistant(compose) -> None:
    cfg = _bench(compose, "icliniq")
    (item,) = gold.load_benchmark(cfg).items
    messages = prompts.messages_for(cfg, item, system_prompts=system_prompts())
    assert messages == [
        {"role": "system", "content": system_prompts()["en"]},
        {"role": "user", "content": item.question},
    ]
    assert prompts.chat_prompt(cfg, item, system_prompts()).endswith(
        "<|im_end|>\n<|im_start|>assistant\n"
    )


def test_bad_template_names_the_key(compose) -> None:
    cfg = _bench(compose, "webmedqa", "benchmark.prompt_template='{question}'")
    (item,) = gold.load_benchmark(cfg).items
    with pytest.raises(BioqwenError, match=r"benchmark\.prompt_template"):
        prompts.user_text(cfg, item)


def test_cmeee_extra_class_needs_only_the_type_override(compose) -> None:
    from bioqwen.eval import ner

    cfg = _bench(compose, "cmeee", "+benchmark.types.sym=Symptom")
    (doc,) = gold.load_benchmark(cfg).items
    assert prompts.user_text(cfg, doc).endswith("实体类型：疾病，药物，临床表现")
    assert gold.entity_types(cfg) == ["Disease", "Drug", "Symptom"]
    aliases = cfg["type_aliases"]
    parsed = ner.parse_response(
        "临床表现：头痛; 乏力\n身体：头", ["Disease", "Drug", "Symptom"], aliases
    )
    assert parsed.entities == {"Symptom": ["头痛", "乏力"]}
