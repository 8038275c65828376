"""One owner for where a model lives (bioqwen.models) and for the run-directory layout
(bioqwen.runs): every job resolves a model reference the same way, and no other module spells
the run folders' names."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bioqwen.chat import session
from bioqwen.checkout import plain
from bioqwen.errors import BioqwenError
from bioqwen.models import locate, model_overrides, reference_kind, resolve_model, spec_source
from bioqwen.runs import ADAPTER_DIR, MERGED_DIR
from tests.conftest import compose_config

PACKAGE = Path(__file__).resolve().parents[1] / "bioqwen"


def _evaluate(ref: str) -> str:
    """Where `bioqwen evaluate model=<ref>` loads from."""
    cfg = compose_config("evaluate", *model_overrides([f"model={ref}"]))
    return resolve_model(cfg.model, adapters=True)


def _export(ref: str) -> str:
    """What `bioqwen export model=<ref>` exports."""
    cfg = compose_config("export", *model_overrides([f"model={ref}"], configs=False))
    return str(locate(str(cfg.model.path)).dir)


def _chat(ref: str) -> str:
    """Where `bioqwen chat models=[<ref>]` loads from."""
    return resolve_model(session.model_spec(ref), adapters=True)


def _score_data(ref: str) -> str:
    """The reward model `bioqwen score-data scorer.path=<ref>` loads."""
    cfg = compose_config("score_data", f"scorer.path={ref}")
    return spec_source(plain(cfg.scorer), "scorer")


PATHS: dict[str, Callable[[str], str]] = {
    "evaluate": _evaluate,
    "export": _export,
    "chat": _chat,
    "score-data": _score_data,
}


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    """A model directory, a merged training run and an unmerged one (adapter only)."""
    root = tmp_path_factory.mktemp("references")
    model = root / "model"
    model.symlink_to(tiny_model_dir, target_is_directory=True)
    merged_run = root / "train-merged"
    merged_run.mkdir()
    (merged_run / MERGED_DIR).symlink_to(tiny_model_dir, target_is_directory=True)
    (merged_run / "lineage.json").write_text('{"job": "train"}')
    adapter_run = root / "train-adapter"
    (adapter_run / ADAPTER_DIR).mkdir(parents=True)
    manifest = {"base_model_name_or_path": str(tiny_model_dir), "peft_type": "LORA"}
    (adapter_run / ADAPTER_DIR / "adapter_config.json").write_text(json.dumps(manifest))
    return {"model": model, "merged_run": merged_run, "adapter_run": adapter_run}


# reference -> (where it resolves, the paths that refuse it with this message)
def _table(layout: dict[str, Path]) -> dict[str, tuple[Path, dict[str, str]]]:
    model, merged_run, adapter_run = layout["model"], layout["merged_run"], layout["adapter_run"]
    return {
        str(model): (model, {}),
        str(merged_run): (merged_run / MERGED_DIR, {}),
        str(adapter_run): (
            adapter_run / ADAPTER_DIR,
            {
                "export": "a LoRA adapter without a merged model",
                "score-data": "a LoRA adapter without a merged model",
            },
        ),
    }


def test_every_reference_resolves_alike_in_every_job(layout: dict[str, Path]) -> None:
    for ref, (expected, refused) in _table(layout).items():
        for job, resolve in PATHS.items():
            if job in refused:
                with pytest.raises(BioqwenError, match=refused[job]):
                    resolve(ref)
            else:
                assert resolve(ref) == str(expected), (job, ref)


def test_a_config_name_resolves_alike_where_jobs_take_one(tiny_model_dir: Path) -> None:
    assert _evaluate("tiny") == _chat("tiny") == str(tiny_model_dir)
    with pytest.raises(BioqwenError, match=r"model\.path=tiny: no such directory"):
        _export("tiny")  # export takes a directory only


@pytest.mark.parametrize(
    ("argv", "configs", "expected"),
    [
        (["model=tiny", "quant=q8_0"], True, ["model=tiny", "quant=q8_0"]),
        (["model=runs/x"], True, ["model.path=runs/x"]),  # spelled as a path: no need to exist
        (["model=./tiny"], True, ["model.path=./tiny"]),  # a directory named like a config
        (["model=~/m"], True, ["model.path=~/m"]),
        (["model=tinyy"], True, ["model=tinyy"]),  # no reference: Hydra lists the choices
        (["model=tiny"], False, ["model.path=tiny"]),  # export: every value is a location
        (["model.path=x", "+model.name=y"], False, ["model.path=x", "+model.name=y"]),
    ],
)
def test_model_overrides_rule(argv: list[str], configs: bool, expected: list[str]) -> None:
    assert model_overrides(argv, configs) == expected


def test_an_existing_directory_without_a_slash_is_a_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myrun").mkdir()
    (tmp_path / "tiny").mkdir()
    assert model_overrides(["model=myrun"]) == ["model.path=myrun"]
    assert model_overrides(["model=tiny"]) == ["model=tiny"]  # a config name wins; ./tiny is not


def test_reference_kinds() -> None:
    assert reference_kind("x/model-q4_0.gguf") == "gguf"
    assert reference_kind("qwen2_0_5b") == "config"
    assert reference_kind("Qwen/Qwen2-0.5B") == "path"  # jobs take hub ids as model.hub_id=
    assert reference_kind("Qwen/Qwen2-0.5B", hub_ids=True) == "hub"  # chat's models=[...]
    assert reference_kind("no-such-name") is None


# --- the run-directory layout ---------------------------------------------------------------

_FOLDER = re.compile(rf"(^|[/\s(<])({MERGED_DIR}|{ADAPTER_DIR})(/|$)")


def _spelled_folders(path: Path) -> list[str]:
    """String literals (docstrings aside) that name a run folder, as `file:line`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and _FOLDER.search(node.value)
    ]


def test_only_bioqwen_runs_names_the_run_folders() -> None:
    found = [hit for file in sorted(PACKAGE.rglob("*.py")) for hit in _spelled_folders(file)]
    assert [hit for hit in found if not hit.startswith("bioqwen/runs.py:")] == []
    assert len(found) == 2  # the guard sees the two definitions it protects
