import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from bioqwen.errors import BioqwenError
from bioqwen.runs import (
    LOCK_FILE,
    atomic_directory,
    atomic_write_json,
    cached_directory,
    disk_full,
    exclusive,
    remove_inside,
    stable_hash,
    write_metrics,
)
from tests.conftest import ROOT


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_metrics_merge_and_hash_order_independent(tmp_path):
    write_metrics(tmp_path, {"a": 1})
    write_metrics(tmp_path, {"b": 2.5})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1, "b": 2.5}
    assert stable_hash({"x": 1, "y": 2}) == stable_hash({"y": 2, "x": 1})
    atomic_write_json(tmp_path / "c.json", {"k": "中文"})
    assert "中文" in (tmp_path / "c.json").read_text(encoding="utf-8")


def test_cache_root_is_absolute_even_when_configured_relative(monkeypatch):
    from bioqwen.runs import cache_root

    monkeypatch.setenv("BIOQWEN_CACHE", "relative/cache")
    assert cache_root().is_absolute() and cache_root().parts[-2:] == ("relative", "cache")


# --- the guarded delete, locks, the cache's leftovers, a full disk -------------------------


def test_remove_inside_deletes_only_strictly_inside(tmp_path):
    root = tmp_path / "experiment"
    (root / "step").mkdir(parents=True)
    (root / "step" / "f").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for bad in (root, root / "..", root / ".", root / "link" / "x", tmp_path / "other"):
        with pytest.raises(BioqwenError, match="refusing to delete"):
            remove_inside(bad, root)
    remove_inside(root / "link", root)  # the link goes, never what it points to
    assert outside.is_dir() and not (root / "link").exists()
    remove_inside(root / "step", root)
    assert root.is_dir() and list(root.iterdir()) == []


HOLD = """
import sys, time
from bioqwen.runs import exclusive
with exclusive(sys.argv[1], "the thing"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(lock, seconds=120.0):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_fails_naming_the_first_and_a_killed_one_frees_the_lock(tmp_path):
    lock = tmp_path / "dir" / LOCK_FILE
    proc = _holder(lock)
    try:
        with pytest.raises(BioqwenError) as err, exclusive(lock, "run directory x"):
            pass
        assert f"run directory x is in use by pid {proc.pid} on host {socket.gethostname()}" in (
            str(err.value)
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lock.exists()  # a killed holder cannot remove it, but its lock went with it
    with exclusive(lock, "run directory x"), exclusive(lock, "re-entered in one process"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_with_wait_a_second_holder_waits_for_the_first_to_end(tmp_path, caplog):
    lock = tmp_path / LOCK_FILE
    proc = _holder(lock, seconds=1.0)
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="bioqwen"), exclusive(lock, "experiment x", wait=True):
        assert time.monotonic() - start > 0.9  # held until the first one let go
    proc.wait()
    assert f"experiment x is in use by pid {proc.pid}" in caplog.text and "waiting" in caplog.text


def test_a_killed_builders_temporary_cache_directory_is_removed_by_the_next(tmp_path):
    entry = tmp_path / "cache" / "mix-abc"
    left = tmp_path / "cache" / ".mix-abc.k1ll3d"  # what a SIGKILL mid-build leaves
    left.mkdir(parents=True)
    (left / "half.arrow").write_bytes(b"x")
    with cached_directory(entry) as tmp:
        assert tmp is not None
        (tmp / "done").write_text("1")
    assert (entry / "done").exists() and sorted(p.name for p in entry.parent.iterdir()) == [
        "mix-abc"
    ]
    with cached_directory(entry) as again:
        assert again is None
    # A failed build leaves nothing: no entry, no temporary directory, no lock file.
    failed = tmp_path / "cache2" / "mix-abc"
    with pytest.raises(RuntimeError), cached_directory(failed) as tmp:
        raise RuntimeError("boom")
    assert list(failed.parent.iterdir()) == []


WRITE = """
import sys
from pathlib import Path
from bioqwen.runs import atomic_directory
with atomic_directory(sys.argv[1]) as tmp:
    (tmp / "by").write_text("first")
    print(tmp.name, flush=True)
    sys.stdin.readline()  # writing until the test lets go
"""


def test_a_live_writers_temporary_directory_is_left_alone_and_waited_for(tmp_path):
    target = tmp_path / "run" / "merged"
    sibling = tmp_path / "run" / ".merged.x.k1ll3d"  # a temporary of `merged.x`, not of `merged`
    sibling.mkdir(parents=True)
    first = subprocess.Popen(
        [sys.executable, "-c", WRITE, str(target)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first.stdin is not None and first.stdout is not None
    live = target.parent / first.stdout.readline().strip()

    def second():
        with atomic_directory(target) as tmp:
            (tmp / "by").write_text("second")

    writer = threading.Thread(target=second)
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive() and live.is_dir()  # waiting, the live writer's directory intact
    first.stdin.close()
    assert first.wait(timeout=60) == 0  # its rename found its directory
    writer.join(timeout=60)
    assert (target / "by").read_text() == "second" and sibling.is_dir()
    assert sorted(p.name for p in target.parent.iterdir()) == [".merged.x.k1ll3d", "merged"]


def test_disk_full_knows_enospc_and_a_library_saying_so(tmp_path):
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    wrapped = RuntimeError("write failed")
    wrapped.__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert disk_full(wrapped, tmp_path)
    assert disk_full(RuntimeError("I/O error: No space left on device (os error 28)"), tmp_path)
    assert not disk_full(OSError(errno.EACCES, "Permission denied"), tmp_path)
    assert not disk_full(ValueError("bad"), tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_disk_full_on_a_real_full_filesystem(tmp_path):
    import torch

    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)], check=True)
    try:
        with pytest.raises(RuntimeError) as err:  # torch says only "unexpected pos ..."
            torch.save({"w": torch.zeros(1 << 18)}, full / "optimizer.pt")
        assert disk_full(err.value, full / "optimizer.pt")
    finally:
        subprocess.run(["umount", "-l", str(full)], check=True)  # torch may hold the file
