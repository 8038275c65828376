"""ChatML formatting of the prepared mix, checked with the train job's own encoder."""

import pytest
from datasets import load_from_disk

from bioqwen.data.chatml import encode
from bioqwen.data.pipeline import prepare
from bioqwen.data.tokenizer import IM_END
from tests.conftest import compose_config as compose
from tests.conftest import system_prompts
from tests.data.helpers import qa, qwen, write_lines


@pytest.fixture(scope="module")
def rows(sample_prepared):
    data = load_from_disk(str(sample_prepared.path))
    return list(data["train"]) + list(data["validation"])


def test_system_prompt_follows_the_detected_language(rows):
    langs = {r["lang"] for r in rows}
    assert langs == {"zh", "en"}
    for row in rows:
        assert row["messages"][0]["content"] == system_prompts()[row["lang"]]


def test_every_example_trains_on_exactly_its_answers(rows):
    tokenizer = qwen()
    for row in rows:
        enc = encode(row["messages"], tokenizer)
        trained = [
            t for t, keep in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if keep
        ]
        assert trained, row["id"]
        answers = [m["content"] + IM_END for m in row["messages"] if m["role"] == "assistant"]
        assert tokenizer.decode(trained) == "".join(answers), row["id"]
        # The stored count is the train job's sequence length.
        assert row["n_tokens"] == len(enc["input_ids"]), row["id"]


def test_language_specific_system_prompts_are_configurable(tmp_path):
    source = write_lines(tmp_path / "en.jsonl", [qa("What helps a headache?", "Rest.")])
    cfg = compose(
        "prepare",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.system_prompts.en=You are a test.",
        "data/mix=stage1",
        "data.mix.validation_size=0",
        "data.mix.sources.taiyi.reader=instruction",
        f"data.mix.sources.taiyi.path={source}",
    )
    (row,) = load_from_disk(str(prepare(cfg.data, seed=0).path))["train"]
    assert row["lang"] == "en"
    assert row["messages"][0] == {"role": "system", "content": "You are a test."}
