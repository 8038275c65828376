"""The GGUF writer: llama.cpp's Qwen2 layout, both tokenizers, and the inputs it refuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors import safe_open
from transformers import AutoTokenizer

from bioqwen.errors import BioqwenError
from bioqwen.export import gguf as export_gguf
from tests.export.conftest import needs

pytestmark = needs("gguf")


def _field(reader: object, key: str) -> object:
    part = reader.fields[key]  # type: ignore[attr-defined]
    value = part.parts[part.data[0]]
    return (
        bytes(value).decode()
        if value.dtype.kind == "u" and key.endswith(("pre", "model", "architecture"))
        else value[0]
    )


@pytest.mark.parametrize(
    "which",
    # The 151k-token vocabulary takes ~20 s to write and read back.
    ["tiny_model_dir", pytest.param("qwen_vocab_model_dir", marks=pytest.mark.slow)],
)
def test_f16_file_has_qwen2_layout(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import gguf

    model_dir: Path = request.getfixturevalue(which)
    out = tmp_path / "model.gguf"
    export_gguf.write_f16(model_dir, out)
    reader = gguf.GGUFReader(str(out))
    config = json.loads((model_dir / "config.json").read_text())
    assert _field(reader, "general.architecture") == "qwen2"
    assert _field(reader, "tokenizer.ggml.pre") == "qwen2"
    assert _field(reader, "tokenizer.ggml.add_bos_token") == 0  # Qwen adds no BOS
    assert _field(reader, "qwen2.block_count") == config["num_hidden_layers"]
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == config["vocab_size"]
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert _field(reader, "tokenizer.ggml.eos_token_id") == tok.convert_tokens_to_ids("<|im_end|>")
    tensors = {t.name: t for t in reader.tensors}
    with safe_open(model_dir / "model.safetensors", "np") as hf:
        assert len(tensors) == len(list(hf.keys()))  # every HF tensor, none invented
        q = hf.get_tensor("model.layers.0.self_attn.q_proj.weight")
    # GGUF lists dimensions innermost first; matrices F16, norms and biases F32.
    assert list(tensors["blk.0.attn_q.weight"].shape) == list(reversed(q.shape))
    assert tensors["blk.0.attn_q.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["blk.0.attn_q.bias"].tensor_type == gguf.GGMLQuantizationType.F32


def test_model_dir_checks(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(BioqwenError, match="adapter without its base"):
        export_gguf.check_model_dir(adapter)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BioqwenError, match="truncated or corrupt"):
        export_gguf.check_model_dir(broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(BioqwenError, match=r"no \*\.safetensors"):
        export_gguf.check_model_dir(broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(BioqwenError, match=r"config\.json:1: malformed JSON"):
        export_gguf.check_model_dir(broken)
