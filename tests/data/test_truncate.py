from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioqwen.data.chatml import render, with_system
from bioqwen.data.tokenizer import IM_END
from bioqwen.data.truncate import SENTENCE_END, encode_starts, fit, side_counts
from tests.conftest import system_prompts
from tests.data.helpers import ntok, qwen

SYSTEM = system_prompts()["zh"]
SENTENCES = [
    "高血压患者应限制食盐摄入。",
    "规律运动有助于控制血压！",
    "Take the tablet before breakfast.",
    "如出现胸痛，应立即就医？",
    "Metformin may upset the stomach at first.",
    "补铁时可同时补充维生素C。",
]


def chat(prompt, answer):
    return with_system(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], SYSTEM
    )


def test_content_spans_match_render():
    messages = chat("问题\n第二行", "回答一。\n回答二。")
    rendered = render(messages)
    text = rendered.text
    assert [text[b:e] for _, b, e in rendered.content_spans] == [m["content"] for m in messages]


def test_side_counts_equal_separate_encodes_of_each_side():
    prompt, answer = "请翻译：Aspirin inhibits COX-1.", "阿司匹林抑制环氧化酶-1。\n\n第二段。"
    messages = chat(prompt, answer)
    rendered = render(messages)
    starts = encode_starts(rendered.text, qwen())
    assert side_counts(rendered, starts) == (ntok(prompt), ntok(answer))


def test_short_sample_is_unchanged():
    messages = chat("头痛怎么办？", "多休息。")
    fitted = fit(messages, qwen(), 1024)
    assert fitted.mode == "none" and fitted.messages == messages
    assert fitted.n_tokens == ntok(render(messages).text)


def test_trailing_paragraphs_are_dropped_whole():
    paragraphs = ["第一段。" * 20, "第二段。" * 20, "第三段。" * 20]
    messages = chat("请详细说明。", "\n".join(paragraphs))
    budget = ntok(render(chat("请详细说明。", "\n".join(paragraphs[:2]))).text)
    fitted = fit(messages, qwen(), budget + 5)
    assert fitted.mode == "paragraph"
    assert fitted.messages[-1]["content"] == "\n".join(paragraphs[:2])
    assert fitted.messages[:-1] == messages[:-1]
    assert fitted.n_tokens == budget <= budget + 5


def test_single_long_paragraph_falls_back_to_sentence_end():
    answer = "".join(SENTENCES * 4)
    messages = chat("一段话说明。", answer)
    fitted = fit(messages, qwen(), 90)
    assert fitted.mode == "sentence"
    kept = fitted.messages[-1]["content"]
    assert answer.startswith(kept) and kept[-1] in "。！？.!?"
    assert fitted.n_tokens <= 90
    assert render(fitted.messages).text.endswith(f"{kept}{IM_END}\n")


def test_prompt_longer_than_limit_is_dropped_not_cut():
    fitted = fit(chat("很长的问题。" * 100, "答。"), qwen(), 64)
    assert fitted.messages is None and fitted.reason == "prompt_exceeds_max_tokens"


def test_no_boundary_that_fits_drops_the_sample():
    fitted = fit(chat("问", "没有标点的一个很长的句子" * 30), qwen(), 60)
    assert fitted.messages is None and fitted.reason == "no_boundary_fits"


def test_decimal_point_is_not_a_sentence_end():
    assert [m.group() for m in SENTENCE_END.finditer("3.5 mg. Next")] == ["."]


paragraph = st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=6).map("".join)
prompt_text = st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=3).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=prompt_text,
    paragraphs=st.lists(paragraph, min_size=1, max_size=8),
    limit=st.integers(min_value=40, max_value=400),
)
def test_fit_properties(prompt, paragraphs, limit):
    answer = "\n".join(paragraphs)
    messages = chat(prompt, answer)
    fitted = fit(messages, qwen(), limit)
    if fitted.messages is None:
        # Only when not even the shortest boundary cut (or the bare prompt) fits.
        ends = [m.end() for m in SENTENCE_END.finditer(answer)]
        ends += [i for i, c in enumerate(answer) if c == "\n"]
        ends = [e for e in ends if answer[:e].strip()]
        if not ends:
            assert fitted.reason in ("no_boundary_fits", "prompt_exceeds_max_tokens")
            return
        shortest = answer[: min(ends)].rstrip()
        assert ntok(render(chat(prompt, shortest)).text) > limit
        return
    text = render(fitted.messages).text
    # Within the limit, counted by a fresh encode of the final text.
    assert fitted.n_tokens == ntok(text) <= limit
    # Prompt intact, still a ChatML sample ending with <|im_end|>.
    assert fitted.messages[:-1] == messages[:-1]
    assert text.endswith(IM_END + "\n")
    kept = fitted.messages[-1]["content"]
    assert kept and answer.startswith(kept)

    def fits(reply: str) -> bool:
        return ntok(render(chat(prompt, reply.rstrip())).text) <= limit

    # The cut is the furthest one that fits: one more paragraph (or sentence) would not.
    first_newline = answer.find("\n")
    if fitted.mode == "paragraph":
        assert answer[len(kept)] == "\n"
        following = answer.find("\n", len(kept) + 1)
        assert not fits(answer if following == -1 else answer[:following])
    elif fitted.mode == "sentence":
        assert SENTENCE_END.search(kept[-1] + answer[len(kept) : len(kept) + 1])
        assert "\n" not in kept
        assert first_newline == -1 or not fits(answer[:first_newline])
        later = [m.end() for m in SENTENCE_END.finditer(answer) if m.end() > len(kept)]
        later = [e for e in later if first_newline == -1 or e <= first_newline]
        assert not later or not fits(answer[: later[0]])
    else:
        assert kept == answer


def test_prefix_encoding_of_long_texts_cuts_where_a_full_encoding_does():
    units = (
        "高血压患者应限制食盐摄入。规律运动有助于控制血压！",
        "Take a tablet before breakfast. ",
    )
    for unit in units:
        answer = "\n".join(unit * (1 + i % 3) for i in range(150))
        messages = chat("问题", answer)
        full = encode_starts(render(messages).text, qwen())
        assert len(full) > 1500
        for limit in (256, 700):
            assert fit(messages, qwen(), limit) == fit(messages, qwen(), limit, full)
