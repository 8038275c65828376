"""W&B sweep files: every combination composes through Hydra; a bad file is one clear error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from bioqwen.sweeps import SweepError
from bioqwen.sweeps.wandb_sweeps import compose_all, expand, load_sweep_file, main
from tests.conftest import ROOT

SWEEP_FILES = sorted((ROOT / "sweeps").glob("*.yaml"))


def test_there_is_a_grid_and_a_bayesian_sweep() -> None:
    methods = {load_sweep_file(path).method for path in SWEEP_FILES}
    assert {"grid", "bayes"} <= methods


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_every_combination_composes(path: Path) -> None:
    sweep = load_sweep_file(path)
    sizes = [len(s.get("values", [0, 0] if "min" in s else [0])) for s in sweep.parameters.values()]
    assert compose_all(sweep) == math.prod(sizes) > 1


def test_the_grid_is_learning_rate_by_lora_rank() -> None:
    grid = load_sweep_file(ROOT / "sweeps" / "lr_lora_r_grid.yaml")
    assert grid.job == "train" and "tracking=wandb" in grid.fixed
    points = expand(grid)
    assert len(points) == 8 and ["stage.learning_rate=0.0001", "method.lora.r=64"] in points


def write(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((ROOT / "sweeps" / "lr_lora_r_grid.yaml").read_text())
    data.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"command": ["python", "train.py", "${args_no_hyphens}"]}, "must start with bioqwen"),
        ({"program": "train.py"}, "must start with bioqwen"),
        ({"command": ["${program}", "trian", "${args_no_hyphens}"]}, "'trian', not a bioqwen job"),
        ({"command": ["${program}", "train", "${args}"]}, "lacks \\$\\{args_no_hyphens\\}"),
        ({"parameters": {"stage.learning_rate": 1e-4}}, "neither values"),
    ],
)
def test_a_bad_sweep_file_is_one_error(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        load_sweep_file(write(tmp_path, **changes))


def test_a_renamed_key_fails_composition(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, parameters={"stage.learnin_rate": {"values": [1e-4]}})
    with pytest.raises(SystemExit) as exit_info:
        main([str(path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("bioqwen: error: ") and "stage.learnin_rate=0.0001" in error
