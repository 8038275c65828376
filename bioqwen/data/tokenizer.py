"""The vendored Qwen tokenizer and a small byte-level BPE for fast CPU training tests.

The Qwen vocabulary and merges (bioqwen/assets/tokenizer, see PROVENANCE.md there) are shared
by Qwen1.5, Qwen2 and Qwen2.5; only the tokenizer_config (special tokens) differs per family.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from bioqwen.config import QwenTokenizer
from bioqwen.errors import BioqwenError
from bioqwen.runs import cache_root, cached_directory, file_hash

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# The BioQwen authors' pad token; a distinct pad keeps padding out of the eos statistics.
PADOFTEXT = "<|padoftext|>"
QWEN_VARIANTS = tuple(variant.value for variant in QwenTokenizer)

# ChatML without an implicit default system prompt: bioqwen always passes its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen's pre-tokenizer split (digits one at a time, letters grouped, newlines kept apart).
QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _assets() -> Path:
    return Path(str(resources.files("bioqwen") / "assets"))


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, pad_token: str = PADOFTEXT) -> None:
    """Give a tokenizer a pad token distinct from eos and the ChatML template, in place."""
    if tokenizer.pad_token is None or tokenizer.pad_token_id in (
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids(IM_END),
        tokenizer.convert_tokens_to_ids(ENDOFTEXT),
    ):
        if pad_token not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [pad_token]})
        tokenizer.pad_token = pad_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE


def load_qwen_tokenizer(
    variant: str = "qwen1_5", pad_token: str = PADOFTEXT
) -> PreTrainedTokenizerBase:
    """Load the vendored real Qwen tokenizer offline, with a distinct pad token."""
    target = cache_root() / "tokenizers" / tokenizer_fingerprint(variant)
    source = _assets() / "tokenizer"
    config = source / variant / "tokenizer_config.json"
    with cached_directory(target) as tmp:
        if tmp is not None:
            # vocab + merges + config load slowly (~2 s); saving once gives a fast tokenizer.json.
            for name in ("vocab.json", "merges.txt"):
                shutil.copy(source / name, tmp / name)
            shutil.copy(config, tmp / "tokenizer_config.json")
            AutoTokenizer.from_pretrained(tmp).save_pretrained(tmp)
    tokenizer = AutoTokenizer.from_pretrained(target)
    prepare_tokenizer(tokenizer, pad_token)
    return tokenizer


def train_small_bpe(vocab_size: int = 1024, pad_token: str = PADOFTEXT) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE with Qwen's pre-tokenizer and special tokens on the shipped corpus.

    Deterministic for a given vocab size; used for fast training tests where a 151k-row
    vocabulary projection would dominate the step time.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    target = cache_root() / "tokenizers" / f"small_bpe-{vocab_size}-{file_hash(_corpus())[:8]}"
    with cached_directory(target) as tmp:
        if tmp is not None:
            bpe = Tokenizer(models.BPE())
            bpe.pre_tokenizer = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            )
            bpe.decoder = decoders.ByteLevel()
            specials = [ENDOFTEXT, IM_START, IM_END, pad_token]
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size,
                special_tokens=specials,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=False,
            )
            bpe.train([str(_corpus())], trainer)
            wrapped = PreTrainedTokenizerFast(
                tokenizer_object=bpe,
                eos_token=IM_END,
                pad_token=pad_token,
                additional_special_tokens=[ENDOFTEXT, IM_START, IM_END],
                clean_up_tokenization_spaces=False,
            )
            wrapped.chat_template = CHATML_TEMPLATE
            wrapped.save_pretrained(tmp)
    tokenizer = AutoTokenizer.from_pretrained(target)
    prepare_tokenizer(tokenizer, pad_token)
    return tokenizer


def _corpus() -> Path:
    return _assets() / "bpe_corpus.txt"


def tokenizer_fingerprint(variant: str) -> str:
    """A content hash of a vendored Qwen tokenizer variant, without loading it (cache keys)."""
    if variant not in QWEN_VARIANTS:
        raise BioqwenError(
            f"data.tokenizer={variant!r}: unknown tokenizer; expected one of {QWEN_VARIANTS}"
        )
    source = _assets() / "tokenizer"
    parts = [
        source / "vocab.json",
        source / "merges.txt",
        source / variant / "tokenizer_config.json",
    ]
    return f"{variant}-" + "".join(file_hash(p)[:8] for p in parts)
