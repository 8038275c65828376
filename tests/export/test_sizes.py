"""Size and precision, defined once: weight-file bytes / 10^9 and the stored dtype."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bioqwen.errors import BioqwenError
from bioqwen.export import sizes


def test_size_is_weight_file_bytes_over_1e9(tiny_model_dir: Path) -> None:
    files = sizes.weight_files(tiny_model_dir)
    assert [f.name for f in files] == ["model.safetensors"]  # config/tokenizer files left out
    assert sizes.size_gb(files) == (tiny_model_dir / "model.safetensors").stat().st_size / 1e9
    assert sizes.weight_files(tiny_model_dir / "model.safetensors") == [
        tiny_model_dir / "model.safetensors"
    ]


def test_stored_precision_follows_the_dtype_holding_most_bytes(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    assert sizes.stored_precision(sizes.weight_files(tiny_model_dir)) == "fp32"
    save_file(
        {"big": torch.zeros(64, 64, dtype=torch.bfloat16), "norm": torch.zeros(64)},
        str(tmp_path / "model.safetensors"),
    )
    assert sizes.stored_precision([tmp_path / "model.safetensors"]) == "bf16"


@pytest.mark.parametrize("keep", [3, 100, -50])
def test_truncated_safetensors_is_one_clear_error(
    tiny_model_dir: Path, tmp_path: Path, keep: int
) -> None:
    broken = tmp_path / "model.safetensors"
    shutil.copy(tiny_model_dir / "model.safetensors", broken)
    data = broken.read_bytes()
    broken.write_bytes(data[:keep])
    with pytest.raises(BioqwenError, match=r"model\.safetensors"):
        sizes.safetensors_header(broken)
