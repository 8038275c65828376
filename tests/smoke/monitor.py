"""Run `bioqwen pipeline` as a subprocess and measure each step: wall time and peak RSS.

The pipeline prints `[<experiment> n/N] <step>: running (...)` when a step starts; the peak
resident set of the process (VmHWM) is read at each such line and reset (`clear_refs` 5), so
every step gets its own peak; a sampler thread keeps the last reading of the final step.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STEP_LINE = re.compile(r"^\[[^\]]+ \d+/\d+\] (?P<step>[^:]+): ")


@dataclass
class StepUse:
    """One step's wall time and peak resident memory."""

    step: str
    seconds: float
    cpu_seconds: float  # user + system time of the process: what a busy machine does not inflate
    peak_rss_gib: float


@dataclass
class Monitored:
    """A finished monitored run: exit status, output, per-step use."""

    returncode: int
    stdout: str
    stderr: str
    steps: list[StepUse] = field(default_factory=list)

    def table(self, title: str) -> str:
        """The per-step use as an aligned text table."""
        lines = [title, f"  {'step':<24} {'time (s)':>9} {'CPU (s)':>8} {'peak RSS (GiB)':>15}"]
        for u in self.steps:
            lines.append(
                f"  {u.step:<24} {u.seconds:>9.1f} {u.cpu_seconds:>8.1f} {u.peak_rss_gib:>15.2f}"
            )
        wall, cpu = sum(u.seconds for u in self.steps), sum(u.cpu_seconds for u in self.steps)
        peak = max((u.peak_rss_gib for u in self.steps), default=0.0)
        lines.append(f"  {'total':<24} {wall:>9.1f} {cpu:>8.1f} {peak:>15.2f}")
        return "\n".join(lines)


def _peak_kib(pid: int) -> int:
    """VmHWM of a live process in KiB (0 once it has exited)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (None once it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reset_peak(pid: int) -> None:
    # Not Linux, or not ours: the peaks then accumulate over the steps.
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def run_pipeline(args: list[str], cwd: Path, timeout: float) -> Monitored:
    """`python -m bioqwen.cli <args>` with per-step time and peak RSS."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bioqwen.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err_lines: list[str] = []
    drain = threading.Thread(target=lambda: err_lines.extend(proc.stderr or []), daemon=True)
    drain.start()
    last_peak, last_cpu, lock = [0], [0.0], threading.Lock()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            with lock:
                last_peak[0] = max(last_peak[0], _peak_kib(proc.pid))
                last_cpu[0] = _cpu_seconds(proc.pid) or last_cpu[0]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_lines: list[str] = []
    steps: list[StepUse] = []
    current, started, cpu_start = "startup", time.monotonic(), 0.0
    deadline = started + timeout

    def close(name: str, since: float, cpu_since: float) -> float:
        with lock:
            peak = max(last_peak[0], _peak_kib(proc.pid))
            cpu = _cpu_seconds(proc.pid) or last_cpu[0]
            last_peak[0] = 0
            _reset_peak(proc.pid)
        steps.append(StepUse(name, time.monotonic() - since, cpu - cpu_since, peak / 2**20))
        return cpu

    for line in proc.stdout or []:
        out_lines.append(line)
        match = STEP_LINE.match(line)
        if match:
            cpu_start = close(current, started, cpu_start)
            current, started = match.group("step"), time.monotonic()
        if time.monotonic() > deadline:
            proc.kill()
            break
    proc.wait()
    done.set()
    sampler.join()
    close(current, started, cpu_start)
    drain.join()
    return Monitored(proc.returncode, "".join(out_lines), "".join(err_lines), steps)
