"""The SLURM launcher configs as submitit would submit them (no cluster: sbatch is never called)."""

from __future__ import annotations

from pathlib import Path

import pytest
import submitit.slurm.slurm
from hydra.utils import instantiate

from tests.sweeps.test_callback import compose_with_hydra


class Submitted(Exception):
    """Carries the sbatch script instead of running sbatch."""


def task(cfg: object) -> None:
    """A stand-in task function (pickled with the job, never called)."""


def sbatch_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *overrides: str, preset: str = "slurm"
) -> str:
    """The sbatch script the launcher would submit for a 4-point sweep."""

    def capture(self: submitit.slurm.slurm.SlurmExecutor, command: str) -> None:
        raise Submitted(self._make_submission_file_text(command, "uid"))

    executor = submitit.slurm.slurm.SlurmExecutor
    monkeypatch.setattr(executor, "affinity", classmethod(lambda cls: 1))  # "srun exists"
    monkeypatch.setattr(executor, "_submit_command", capture)
    cfg = compose_with_hydra(
        f"hydra/launcher={preset}", f"hydra.sweep.dir={tmp_path}", "hydra.job.num=0", *overrides
    )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=task, config=cfg)
    points = [[f"stage.learning_rate={lr}", "method.lora.r=16"] for lr in (1e-5, 1e-4, 2e-4, 3e-4)]
    with pytest.raises(Submitted) as submitted:
        launcher.launch(points, initial_job_idx=0)
    return str(submitted.value)


def test_submission_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = sbatch_script(tmp_path, monkeypatch, "hydra.launcher.partition=gpu")
    lines = set(script.splitlines())
    for option in [
        "--partition=gpu",
        "--gpus-per-node=1",
        "--cpus-per-task=8",
        "--mem=64GB",
        "--time=1440",
        "--job-name=train",
        "--array=0-3%4",  # four points, at most array_parallelism (8) at once
        f"--output={tmp_path}/.submitit/%A_%a/%A_%a_0_log.out",
    ]:
        assert f"#SBATCH {option}" in lines, option
    assert not any(line.startswith("#SBATCH --error") for line in lines)  # stderr_to_stdout


def test_array_parallelism_account_and_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = sbatch_script(
        tmp_path,
        monkeypatch,
        "hydra.launcher.partition=a100",
        "hydra.launcher.array_parallelism=2",
        "hydra.launcher.account=lab",
        "hydra.launcher.gpus_per_node=2",
        "hydra.launcher.setup=[module load cuda]",
    )
    lines = script.splitlines()
    assert {"#SBATCH --array=0-3%2", "#SBATCH --account=lab", "#SBATCH --gpus-per-node=2"} <= set(
        lines
    )
    assert "module load cuda" in lines


def test_the_cpu_preset_asks_for_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = sbatch_script(
        tmp_path, monkeypatch, "hydra.launcher.partition=debug", preset="slurm_cpu"
    )
    lines = set(script.splitlines())
    assert {"#SBATCH --cpus-per-task=1", "#SBATCH --mem=4GB", "#SBATCH --time=60"} <= lines
    assert not any("gpu" in line for line in lines), script
