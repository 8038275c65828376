"""`bioqwen export`: GGUF + MLC from a training run directory, and one clear error per bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.export import build, mlc
from bioqwen.jobs import export
from bioqwen.jobs.common import execute
from tests.conftest import compose_config, offline_run
from tests.export.conftest import needs

# What a run directory of `format=mlc` holds (the job's own files and the MLC-LLM ones).
MLC_RUN = ["config.yaml", "lineage.json", "metrics.json", "mlc-chat-config.json", "mlc_commands.sh"]


def _training_run(tmp_path: Path, model_dir: Path) -> Path:
    """A training run directory as the train job leaves it: lineage.json and merged/."""
    run = tmp_path / "train-stage2"
    run.mkdir()
    (run / "lineage.json").write_text('{"job": "train"}')
    shutil.copytree(model_dir, run / "merged")
    return run


def _leftovers(run_dir: Path) -> list[str]:
    """What a failed export left in its run directory (Hydra's own .hydra/ and log aside)."""
    if not run_dir.exists():
        return []
    return sorted(p.name for p in run_dir.iterdir() if p.name not in (".hydra", "export.log"))


@needs("llama_cpp")
@needs("gguf")
def test_export_q4_0_keeps_f16_checks_agreement_and_logs_an_artifact(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    source = _training_run(tmp_path, tiny_model_dir)
    out = tmp_path / "export"
    cfg = compose_config("export", f"model.path={source}", "format=all", "tracking=offline")
    metrics = execute(export.run, cfg, out)

    assert _leftovers(out) == sorted([*MLC_RUN, "model-f16.gguf", "model-q4_0.gguf", "wandb"])
    assert json.loads((out / "metrics.json").read_text()) == metrics
    # F16 reproduces the HF model: identical greedy tokens, logits within 1e-2.
    assert metrics["gguf/f16/greedy_match"] == 1.0 and metrics["gguf/f16/prefix_agreement"] == 1.0
    assert metrics["gguf/f16/max_logit_diff"] < 1e-2
    assert metrics["gguf/f16/tokenizer_match"] == metrics["gguf/q4_0/tokenizer_match"] == 1.0
    assert 0.0 <= metrics["gguf/q4_0/prefix_agreement"] <= 1.0
    assert metrics["gguf/q4_0/tokens_per_s"] > 0 and metrics["hf/tokens_per_s"] > 0
    # Size is the file a user downloads; the Q4_0 file is the row's model.
    assert metrics["model/size_gb"] == (out / "model-q4_0.gguf").stat().st_size / 1e9
    assert metrics["gguf/f16/size_gb"] == (out / "model-f16.gguf").stat().st_size / 1e9
    assert metrics["model/size_gb"] < metrics["gguf/f16/size_gb"] < metrics["source/size_gb"]
    assert (metrics["model/precision"], metrics["source/precision"]) == ("int4", "fp32")
    assert metrics["convert_s"] > 0 and metrics["quantize_s"] > 0
    assert mlc.problems(json.loads((out / "mlc-chat-config.json").read_text())) == []

    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["parents"] == [str(source.resolve())]
    assert lineage["model"] == str((source / "merged").resolve())
    tracked = offline_run(out)
    assert {k: tracked["summary"][k] for k in metrics} == metrics
    (artifact,) = tracked["artifacts"]  # the files, by reference
    assert artifact["name"] == "train-stage2-all-q4_0"
    made = {"model-q4_0.gguf", "model-f16.gguf", "mlc-chat-config.json", "mlc_commands.sh"}
    assert set(artifact["references"]) == made
    assert lineage["wandb"]["artifacts"] == {
        "all": f"train-stage2-all-q4_0:run-{lineage['wandb']['run_id']}"
    }


@pytest.mark.parametrize(("lineage", "error"), [(None, None), ("{", r"lineage\.json:1")])
def test_a_training_run_without_a_readable_lineage(
    tmp_path: Path, tiny_model_dir: Path, lineage: str | None, error: str | None
) -> None:
    source = _training_run(tmp_path, tiny_model_dir)
    if lineage is None:  # a copied run directory: exported, with no W&B input to link
        (source / "lineage.json").unlink()
    else:
        (source / "lineage.json").write_text(lineage)
    cfg = compose_config("export", f"model.path={source}", "format=mlc", "tracking=offline")
    out = tmp_path / "export"
    if error:
        with pytest.raises(BioqwenError, match=error):
            execute(export.run, cfg, out)
        assert _leftovers(out) == []
    else:
        execute(export.run, cfg, out)
        assert json.loads((out / "lineage.json").read_text())["wandb"]["inputs"] == []


def test_mlc_only_needs_no_deploy_extra(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "export"
    cfg = compose_config("export", f"model.path={tiny_model_dir}", "format=mlc", "mlc.language=en")
    metrics = execute(export.run, cfg, out)
    assert _leftovers(out) == MLC_RUN
    chat = json.loads((out / "mlc-chat-config.json").read_text())
    assert chat["conv_template"]["system_message"].startswith("You are BIO-QWEN")
    script = (out / "mlc_commands.sh").read_text()
    assert f"cp {out / 'mlc-chat-config.json'} " in script and "--device android" in script
    weights = (tiny_model_dir / "model.safetensors").stat().st_size / 1e9
    assert metrics == {"source/size_gb": weights, "source/precision": "fp32"}


def test_a_killed_exports_scratch_directory_is_removed_by_the_next(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    out = tmp_path / "export"
    left = out / f"{export.STAGING}k1ll3d"  # what a SIGKILL mid-conversion leaves
    left.mkdir(parents=True)
    (left / "model-f16.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    cfg = compose_config("export", f"model.path={tiny_model_dir}", "format=mlc", "mlc.language=en")
    execute(export.run, cfg, out)
    assert _leftovers(out) == MLC_RUN


@needs("llama_cpp")
@needs("gguf")
def test_a_gguf_that_fails_to_load_leaves_nothing(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_writer(model_dir: Path, out: Path, name: str | None = None) -> None:
        out.write_bytes(b"GGUF" + b"\0" * 64)  # a header llama.cpp cannot read

    monkeypatch.setattr(build.gguf, "write_f16", broken_writer)
    out = tmp_path / "export"
    cfg = compose_config("export", f"model.path={tiny_model_dir}", "quant=f16")
    with pytest.raises(BioqwenError, match=r"llama\.cpp cannot load this GGUF file"):
        execute(export.run, cfg, out)
    assert _leftovers(out) == []


def _adapter_only(tmp_path: Path, _: Path) -> str:
    run = tmp_path / "train-no-merge"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text('{"base_model_name_or_path": "x"}')
    return str(run)


def _truncated(tmp_path: Path, tiny_model_dir: Path) -> str:
    model = tmp_path / "copied"
    shutil.copytree(tiny_model_dir, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return str(model)


@pytest.mark.parametrize(
    ("make_model", "extra", "message"),
    [
        (_adapter_only, "quant=q4_0", "a LoRA adapter without a merged model"),
        (_truncated, "quant=q4_0", "model.safetensors: truncated or corrupt"),
        (lambda tmp, tiny: str(tmp / "nowhere"), "quant=q4_0", "no such directory"),
    ],
)
def test_bad_input_is_one_clear_error_and_no_artefacts(
    tmp_path: Path,
    tiny_model_dir: Path,
    make_model: Callable[[Path, Path], str],
    extra: str,
    message: str,
) -> None:
    out = tmp_path / "export"
    cfg = compose_config("export", f"model.path={make_model(tmp_path, tiny_model_dir)}", extra)
    with pytest.raises(BioqwenError, match=re.escape(message)):
        execute(export.run, cfg, out)
    assert _leftovers(out) == []


def test_unsupported_quant_on_the_command_line(
    tmp_path: Path,
    tiny_model_dir: Path,
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    out = tmp_path / "export"
    proc = run_cli("export", f"model={tiny_model_dir}", "quant=q3_k", run_dir=out)
    # Refused at composition (ExportJobConfig.quant), like a misspelled key: nothing runs.
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bioqwen: error: quant=q3_k: invalid value 'q3_k', "
        "expected one of [f16, q8_0, q4_0, q4_k_m]"
    ]
    assert not out.exists()


def test_model_equals_dir_means_model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(export, "_hydra_main", lambda: seen.extend(export.sys.argv[1:]))
    monkeypatch.setattr(export.sys, "argv", ["bioqwen-export", "model=runs/x", "quant=q8_0"])
    export.main()
    assert seen == ["model.path=runs/x", "quant=q8_0"]


def test_config_knobs_compose(tmp_path: Path) -> None:
    cfg: Any = compose_config("export", f"model.path={tmp_path}", "mlc.language=en")
    assert cfg.quant == "q4_0" and cfg.format == "gguf" and cfg.mlc.quantization == "q4f16_1"
    assert cfg.data.system_prompts[cfg.mlc.language].startswith("You are BIO-QWEN")
