"""The shared job shape: what every job sets up before it runs, its run directory's lock, and
user errors (a full disk among them) as one line."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub.utils import are_progress_bars_disabled
from transformers.utils import logging as hf_logging

from bioqwen.jobs.common import quiet_model_bars, report_user_errors
from bioqwen.runs import LOCK_FILE
from tests.conftest import ROOT, cli
from tests.eval.known_answers import WEBMEDQA


def test_model_bars_go_but_download_bars_stay() -> None:
    try:
        quiet_model_bars()
        assert not hf_logging.is_progress_bar_enabled()  # Loading weights, Writing model shards
        assert not are_progress_bars_disabled()  # a first download of real weights shows
    finally:
        hf_logging.enable_progress_bar()


HOLD = """
import sys, time
from pathlib import Path
from bioqwen.jobs.common import hold_run_dir
with hold_run_dir(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(300)
"""


def test_a_second_job_on_a_run_directory_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    def score() -> subprocess.CompletedProcess[str]:
        return cli("score", "benchmark=webmedqa", f"predictions={WEBMEDQA}", "tracking=disabled",
                   run_dir=run_dir)  # fmt: skip

    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "held"
        second = score()
        assert second.returncode == 2, second.stderr[-2000:]
        (line,) = second.stderr.strip().splitlines()
        holder = f"pid {first.pid} on host {socket.gethostname()}"
        assert line.startswith(f"bioqwen: error: run directory {run_dir} is in use by {holder}")
        assert not (run_dir / "config.yaml").exists() and not (run_dir / "metrics.json").exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The holder is gone (killed, so it could not clean up): the same job now runs.
    again = score()
    assert again.returncode == 0, again.stderr[-2000:]
    assert (run_dir / "metrics.json").exists() and not (run_dir / LOCK_FILE).exists()


HOLD_UNTIL_TOLD = """
import sys
import time
from pathlib import Path
from bioqwen.jobs.common import hold_run_dir
with hold_run_dir(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()  # held until the test lets go
"""


def test_with_wait_a_second_job_waits_for_the_holder_and_then_runs(tmp_path: Path) -> None:
    run_dir, output = tmp_path / "run", tmp_path / "second.log"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNTIL_TOLD, str(run_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdin is not None and first.stdout is not None
    assert first.stdout.readline().strip() == "held"
    score = [sys.executable, "-m", "bioqwen.cli", "score", "benchmark=webmedqa", "wait=true"]
    score += [f"predictions={WEBMEDQA}", "tracking=disabled", f"hydra.run.dir={run_dir}"]
    with open(output, "w") as log:
        second = subprocess.Popen(score, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        holder = f"run directory {run_dir} is in use by pid {first.pid}"
        deadline = time.monotonic() + 240
        while f"{holder} on host {socket.gethostname()}: waiting" not in output.read_text():
            assert second.poll() is None, output.read_text()[-2000:]
            assert time.monotonic() < deadline, output.read_text()[-2000:]
            time.sleep(0.2)
        time.sleep(1.0)
        assert second.poll() is None and not (run_dir / "config.yaml").exists()  # still waiting
        first.stdin.close()  # the holder ends: the second job takes the lock and runs
        assert first.wait(timeout=60) == 0
        assert second.wait(timeout=240) == 0, output.read_text()[-2000:]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (run_dir / "metrics.json").exists() and not (run_dir / LOCK_FILE).exists()


def test_a_full_disk_is_one_error_line_naming_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    def write() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/predictions.jsonl")

    with pytest.raises(SystemExit) as exit_info:
        report_user_errors(write)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "bioqwen: error: /runs/x/predictions.jsonl: No space left on device; free space and rerun"
    )
