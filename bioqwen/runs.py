"""Run directories: atomic writes, content hashes, metrics.json and lineage.json, locks and the
one guarded delete.

A leaf module (imports only bioqwen.errors) so that every layer can write run artefacts the
same way: nothing is ever half-written, because each file is written to a temporary sibling
and renamed into place; a directory two processes could write is held with `exclusive`; and
every delete of a run's files goes through `remove_inside`, which refuses any path that is
not strictly inside the directory it is meant to be in.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError

log = logging.getLogger("bioqwen")

METRICS_FILE = "metrics.json"
LINEAGE_FILE = "lineage.json"
# Held (see `exclusive`) by the job writing a run directory, or the pipeline of an experiment.
LOCK_FILE = ".bioqwen.lock"
# Where a training run directory keeps its model: the trained LoRA adapter, and the full model
# (the adapter merged into its base, or a full fine-tuning). Every module names them from here.
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
# The folders a run's model is looked for in, in order of preference.
RUN_MODEL_DIRS = (MERGED_DIR, ADAPTER_DIR)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text to path via a temporary file in the same directory and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename is None:  # a full disk: name the file
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write obj as indented UTF-8 JSON, atomically."""
    return atomic_write_text(
        path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n"
    )


@contextlib.contextmanager
def atomic_directory(final: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block completes.

    Writers of one `final` take turns on a lock beside it, so the holder is its only writer:
    a temporary sibling it finds was left by a killed one (a SIGKILL mid-save) and is removed
    first, never one of a live writer, and only inside final's parent.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(_writers_lock(final), f"directory {final}", wait=True):
        for stale in final.parent.iterdir():
            if _is_temporary_of(stale, final):
                remove_inside(stale, final.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            yield tmp
            if final.exists():
                remove_inside(final, final.parent)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                remove_inside(tmp, final.parent)


def _writers_lock(final: Path) -> Path:
    """The lock beside `final` that its writers take turns on."""
    return final.parent / f".{final.name}.lock"


def _is_temporary_of(path: Path, final: Path) -> bool:
    """Whether `path` is a temporary directory atomic_directory(final) made (`.<name>.<random>`).

    mkdtemp's random part has no dot: `.a.b.<random>`, made for a sibling `a.b`, is not `a`'s.
    """
    prefix = f".{final.name}."
    rest = path.name[len(prefix) :]
    return path.name.startswith(prefix) and bool(rest) and "." not in rest and path.is_dir()


def remove_inside(path: str | Path, root: str | Path) -> None:
    """Delete `path` (a tree, a file or a link) only if it lies strictly inside `root`.

    Both are resolved first (a `..` or a symlink that leads out of `root`, or a path that is
    `root` itself, is refused with a BioqwenError): the one way bioqwen deletes run files.
    A link as the last component is removed, never followed.
    """
    path, base = Path(path), Path(root).resolve()
    if path.name in ("", ".", ".."):
        raise BioqwenError(f"refusing to delete {path}: not a plain name inside {root}")
    target = path.parent.resolve() / path.name
    if base not in target.parents:
        raise BioqwenError(f"refusing to delete {path}: it is not strictly inside {root}")
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


# What a full disk or quota says: errno (ENOSPC, EDQUOT) or the text of a library's own error.
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "os error 28", "os error 122")
# torch.save reports a full disk only as a failed write: below this much free space, that is why.
_NEARLY_FULL = 64 << 20


def disk_full(err: BaseException, path: str | Path) -> bool:
    """Whether `err`, raised while writing under `path`, means its disk (or quota) is full."""
    chain: list[BaseException] = []
    while err is not None and err not in chain:
        chain.append(err)
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    for link in chain:
        if isinstance(link, OSError) and link.errno in _FULL_ERRNOS:
            return True
        if any(text in str(link) for text in _FULL_TEXTS):
            return True
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return isinstance(chain[0], RuntimeError | OSError) and (
            shutil.disk_usage(folder).free < _NEARLY_FULL
        )
    except OSError:
        return False


# Locks this process holds: resolved lock file -> depth (a job inside a job re-enters).
_HELD: dict[str, int] = {}


def _holder(fd: int) -> str:
    """Who holds a lock, as its holder wrote it into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {info['pid']} on host {info['host']}"
    except (ValueError, KeyError, TypeError):  # written a moment after the lock is taken
        return "another process"


@contextlib.contextmanager
def exclusive(lock: str | Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` for the block (recording pid and host in it).

    A second holder fails at once with a BioqwenError naming the first one's pid and host, or
    waits for it with `wait`. The lock is fcntl.flock's, which the OS drops when its holder
    dies, so a killed job never leaves a stale lock. The file is removed on release; a process
    that opened it just before is told by its inode and opens the new one.
    """
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock.parent.resolve() / lock.name)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                os.close(fd)
                raise BioqwenError(
                    f"{what} is in use by {holder} (lock file {lock}); wait for it to end or "
                    "stop it"
                ) from None
            log.warning("%s is in use by %s: waiting for it to end", what, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            opened, current = os.fstat(fd), os.stat(lock)
            if (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder removed that file on release: lock the one there now
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
    _HELD[key] = 1
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash a JSON-serialisable object independently of dict key order."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:length]


def file_hash(path: str | Path, length: int = 16) -> str:
    """Content hash of a file, or of every file under a directory (names and bytes)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:length]


def write_metrics(run_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Merge flat name -> value metrics into run_dir/metrics.json."""
    path = Path(run_dir) / METRICS_FILE
    current = read_json(path) if path.exists() else {}
    current.update(metrics)
    return atomic_write_json(path, current)


def write_lineage(run_dir: str | Path, **entries: Any) -> Path:
    """Merge entries (consumed runs, data hashes) into run_dir/lineage.json."""
    path = Path(run_dir) / LINEAGE_FILE
    current = read_json(path) if path.exists() else {}
    current.update(entries)
    return atomic_write_json(path, current)


# Deeper JSON is refused before json.loads sees it: its C scanner recurses per level and,
# under a raised sys.setrecursionlimit, overflows the C stack (a segfault, not RecursionError).
MAX_JSON_DEPTH = 200
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def parse_json(text: str | bytes) -> Any:
    """json.loads, with nesting deeper than MAX_JSON_DEPTH reported as the json.JSONDecodeError
    every reader already turns into an error naming file:line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:  # else it cannot nest that deep
        depth = 0
        for match in _JSON_NESTING.finditer(text):
            token = match.group()
            depth += 1 if token in "[{" else -1 if token in "]}" else 0
            if depth > MAX_JSON_DEPTH:
                raise json.JSONDecodeError("nesting too deep", text, match.start())
    return json.loads(text)


def read_json(path: str | Path) -> Any:
    """Read a JSON file, naming the file in the error if it is malformed."""
    path = Path(path)
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: malformed JSON: {err.msg}") from err


def cache_root() -> Path:
    """Root of bioqwen's on-disk caches (absolute): $BIOQWEN_CACHE or ~/.cache/bioqwen."""
    # Absolute, so cached model paths written into run directories stay valid from any cwd.
    return Path(os.environ.get("BIOQWEN_CACHE", Path.home() / ".cache" / "bioqwen")).resolve()


@contextlib.contextmanager
def cached_directory(final: str | Path) -> Iterator[Path | None]:
    """Build a cache entry once: yield None if `final` exists, else a temp dir renamed into place.

    Builders of one entry take turns on atomic_directory's lock beside it (pytest-xdist
    workers, two jobs), so readers never see a partial entry, the work is done once, and a
    killed builder's temporary directory is removed by the next.
    """
    final = Path(final)
    if final.exists():
        yield None
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(_writers_lock(final), f"cache entry {final}", wait=True):
        if final.exists():  # built by the holder we waited for
            yield None
            return
        with atomic_directory(final) as tmp:  # the same lock, re-entered
            yield tmp


def code_revision(checkout: str | Path | None = None) -> dict[str, Any] | None:
    """The git commit of the code that ran and whether the checkout had uncommitted changes
    (None outside a git checkout, e.g. an installed package)."""
    # Imported here, not at the top: runs.py stays a leaf that imports only bioqwen.errors.
    from bioqwen.checkout import ROOT

    root = Path(checkout) if checkout else ROOT
    if not (root / ".git").exists():
        return None

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def library_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of the named distributions (None for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
