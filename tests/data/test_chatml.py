import pytest

from bioqwen.data.chatml import encode, prompt_text, render, with_system
from bioqwen.data.tokenizer import load_qwen_tokenizer, train_small_bpe
from tests.conftest import system_prompts

CONVERSATION = [
    {"role": "user", "content": "What is BRCA1?"},
    {"role": "assistant", "content": "一个基因。\n\nA tumour-suppressor gene."},
    {"role": "user", "content": "And TP53?"},
    {"role": "assistant", "content": "Also one."},
]


@pytest.fixture(params=["qwen1_5", "small_bpe"])
def tokenizer(request):
    return load_qwen_tokenizer() if request.param == "qwen1_5" else train_small_bpe()


def test_render_is_chatml_with_system_prompt():
    chat = render(with_system(CONVERSATION[:2], system_prompts()["en"]))
    assert chat.text.startswith("<|im_start|>system\nYou are BIO-QWEN")
    assert chat.text.endswith("A tumour-suppressor gene.<|im_end|>\n")


def test_trained_tokens_are_exactly_assistant_content_plus_im_end(tokenizer):
    enc = encode(with_system(CONVERSATION, system_prompts()["zh"]), tokenizer)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    assert sum(mask) > 0
    runs, current = [], []
    for tok, keep in zip(ids, mask, strict=True):
        if keep:
            current.append(tok)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    assert runs == [
        "一个基因。\n\nA tumour-suppressor gene.<|im_end|>",
        "Also one.<|im_end|>",
    ]
    assert all(lab == -100 for lab, keep in zip(enc["labels"], mask, strict=True) if not keep)


def test_prompt_text_ends_with_assistant_header():
    text = prompt_text(CONVERSATION[:2])
    assert text.endswith("What is BRCA1?<|im_end|>\n<|im_start|>assistant\n")
