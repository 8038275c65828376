"""Run directories: atomic writes, content hashes, metrics.json and lineage.json.

A leaf module (imports nothing from bioqwen) so that every layer can write run artefacts the
same way: nothing is ever half-written, because each file is written to a temporary sibling
and renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
LINEAGE_FILE = "lineage.json"


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
    """Yield a temporary directory that replaces `final` only if the block completes."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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

    Safe under concurrent builders (pytest-xdist workers): the first rename wins and a loser's
    temporary directory is discarded, so readers never see a partial entry.
    """
    final = Path(final)
    if final.exists():
        yield None
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def code_revision(checkout: str | Path | None = None) -> dict[str, Any] | None:
    """The git commit of the code that ran and whether the checkout had uncommitted changes
    (None outside a git checkout, e.g. an installed package)."""
    root = Path(checkout) if checkout else Path(__file__).resolve().parents[1]
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
