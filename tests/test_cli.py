import subprocess
import sys

import pytest

from bioqwen import cli


def test_help_lists_every_job(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(job in out for job in cli.JOBS)


def test_unknown_job_exits_non_zero_naming_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["trian"])
    assert exit_info.value.code == 2
    assert "unknown job 'trian'" in capsys.readouterr().err


def test_misspelled_config_key_fails_naming_the_key(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bioqwen.cli",
            "prepare",
            "data.nmu_proc=2",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "data.nmu_proc" in proc.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
