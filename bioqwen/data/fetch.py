"""The paper's raw data by name: downloads into the layout `bioqwen prepare` reads.

Each file of conf/data/fetch/<set>.yaml is a Hugging Face dataset file (`hf_dataset`, fetched
with huggingface_hub's `hf_hub_download` at a pinned revision) or a GitHub release asset
(`github_release`, `<github_url>/<owner>/<repo>/releases/download/<tag>/<asset>`), optionally
a zip whose members are extracted. Nothing is half-written: a file is downloaded into
`<root>/.fetch/` (resuming a partial one with an HTTP Range request, as huggingface_hub does
for the hub), its sha256 checked, and only then renamed to its place under `<root>`; a
checksum mismatch removes the download and is one BioqwenError line.

Checksums: a pinned `sha256` in the config is checked; else a hash recorded on the file's
first fetch (trust on first use) is checked on every later download; else, for a hub file, the
hub's own LFS content hash (the ETag of an LFS file is its sha256); else the hash is recorded.
Every file's source, revision (as asked and as resolved), size and sha256 go into
`<root>/fetch_manifest.json`, which the data card of a mix prepared from these files shows
(bioqwen.data.card). A file the manifest says is complete (same size and sha256) is not
downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.config import FetchKind
from bioqwen.errors import BioqwenError
from bioqwen.runs import atomic_write_json, read_json

MANIFEST = "fetch_manifest.json"
STAGING = ".fetch"  # partial and unverified downloads, under the data root
KINDS = tuple(kind.value for kind in FetchKind)  # a manifest file is checked here too
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20
# How a manifest entry's checksum was established.
PINNED = "pinned in the config"
HUB_LFS = "the hub's LFS sha256"
FIRST_USE = "recorded on first fetch (trust on first use)"


@dataclass(frozen=True)
class Endpoints:
    """Where files are fetched from (configurable so tests serve them from 127.0.0.1)."""

    hf: str
    github: str
    retries: int
    timeout_s: float


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict[str, Any]:
    """`<root>/fetch_manifest.json` ({"files": {name: entry}}), empty when none was written."""
    path = root / MANIFEST
    if not path.exists():
        return {"files": {}}
    try:
        manifest = read_json(path)
    except ValueError as err:
        raise BioqwenError(str(err)) from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BioqwenError(f"{path}: not a fetch manifest (no 'files' object)")
    return manifest


def check_spec(name: str, spec: Mapping[str, Any], where: str) -> None:
    """Reject a file entry the fetch would only fail on later."""
    if spec["kind"] not in KINDS:
        raise BioqwenError(f"{where}: files.{name}.kind={spec['kind']!r}: expected one of {KINDS}")
    if not spec.get("revision"):
        raise BioqwenError(
            f"{where}: files.{name}.revision is not set (a hub revision or release tag to pin)"
        )
    pinned = spec.get("sha256")
    if pinned is not None and not SHA256.match(str(pinned)):
        raise BioqwenError(
            f"{where}: files.{name}.sha256={pinned!r}: expected 64 lower-case hex digits or null"
        )
    for rel in [spec["dest"], *(spec.get("extract") or {}).values()]:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise BioqwenError(f"{where}: files.{name}: {rel!r} must be relative to data.root")


def source_url(spec: Mapping[str, Any], endpoints: Endpoints) -> str:
    """The URL a file is published at (the hub's resolve URL, or the release asset's)."""
    if spec["kind"] == "hf_dataset":
        from huggingface_hub import hf_hub_url

        return hf_hub_url(
            spec["repo"],
            spec["file"],
            repo_type="dataset",
            revision=spec["revision"],
            endpoint=endpoints.hf,
        )
    base = endpoints.github.rstrip("/")
    return f"{base}/{spec['repo']}/releases/download/{spec['revision']}/{spec['file']}"


def is_complete(root: Path, spec: Mapping[str, Any], entry: Mapping[str, Any] | None) -> bool:
    """A file (and what it extracts) is in place with the hashes the manifest recorded."""
    if entry is None:
        return False
    expected = spec.get("sha256") or entry.get("sha256")
    if entry.get("sha256") != expected:  # the pin changed since: fetch again
        return False
    paths = {spec["dest"]: expected, **(entry.get("extracted") or {})}
    for rel, digest in paths.items():
        path = root / rel
        if not path.is_file() or path.stat().st_size != _recorded_size(entry, rel):
            return False
        if rel == spec["dest"] and sha256_of(path) != digest:
            return False
    return True


def _recorded_size(entry: Mapping[str, Any], rel: str) -> int:
    """Size the manifest recorded for a path (the download, or an extracted member)."""
    return int((entry.get("sizes") or {}).get(rel, -1))


def _range_request(url: str, start: int, timeout: float) -> Any:
    """Open url, asking for the bytes from `start` on when some are already here."""
    request = urllib.request.Request(url, headers={"User-Agent": "bioqwen-fetch"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def http_download(url: str, part: Path, endpoints: Endpoints) -> None:
    """Download url into `part`, resuming what it holds with a Range request (a server that
    ignores the range restarts it cleanly) and again after a cut connection."""
    part.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        try:
            with _range_request(url, have, endpoints.timeout_s) as response:
                if response.status == 200 and have:  # range ignored: start over
                    have = 0
                total = response.headers.get("Content-Length")
                expected = have + int(total) if total is not None else None
                with open(part, "ab" if have else "wb") as out:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
            size = part.stat().st_size
            if expected is not None and size != expected:
                raise http.client.IncompleteRead(b"", expected - size)
            return
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # nothing left to send: the part is whole
                return
            raise BioqwenError(f"{url}: HTTP {err.code} {err.reason}") from err
        except (OSError, http.client.HTTPException) as err:
            failures += 1
            if failures > endpoints.retries:
                got = part.stat().st_size if part.exists() else 0
                raise BioqwenError(
                    f"{url}: download stopped at {got:,} bytes after {failures} tries "
                    f"({type(err).__name__}: {err}); the partial file stays in {part.parent} "
                    "and the next run resumes it"
                ) from err
            time.sleep(min(2.0**failures / 4, 5.0))


def hf_download(spec: Mapping[str, Any], staging: Path, endpoints: Endpoints) -> tuple[Path, dict]:
    """Fetch a hub dataset file at its pinned revision into staging/ (huggingface_hub resumes
    a partial download itself); returns the path and the hub's revision and LFS hash."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    repo, name, revision = spec["repo"], spec["file"], str(spec["revision"])
    url = hf_hub_url(repo, name, repo_type="dataset", revision=revision, endpoint=endpoints.hf)
    try:
        meta = get_hf_file_metadata(url, timeout=endpoints.timeout_s, endpoint=endpoints.hf)
        # Download exactly the commit the revision resolved to, even if a branch moves on.
        path = hf_hub_download(
            repo,
            name,
            repo_type="dataset",
            revision=meta.commit_hash or revision,
            local_dir=staging,
            cache_dir=staging / ".hf-cache",
            endpoint=endpoints.hf,
            etag_timeout=endpoints.timeout_s,
        )
    except OfflineModeIsEnabled as err:
        raise BioqwenError(f"{url}: HF_HUB_OFFLINE=1 is set; unset it to fetch") from err
    except (HfHubHTTPError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BioqwenError(
            f"{url}: {first} (a partial download stays in {staging} and the next run resumes it)"
        ) from err
    etag = (meta.etag or "").strip('"').lower()
    hub = {
        "resolved_revision": meta.commit_hash,
        "hub_sha256": etag if SHA256.match(etag) else None,
    }
    return Path(path), hub


def extract(archive: Path, members: Mapping[str, str], root: Path) -> dict[str, int]:
    """Extract the named zip members (matched by base name, anywhere in the archive) to their
    paths under root, each via a temporary sibling; returns the sizes written."""
    sizes = {}
    with zipfile.ZipFile(archive) as zipped:
        by_name = {
            Path(info.filename).name: info for info in zipped.infolist() if not info.is_dir()
        }
        for member, rel in members.items():
            if member not in by_name:
                listed = ", ".join(sorted(by_name)) or "nothing"
                raise BioqwenError(f"{archive}: no member {member!r} (it holds: {listed})")
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            with zipped.open(by_name[member]) as source, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            os.replace(tmp, target)
            sizes[rel] = target.stat().st_size
    return sizes


def fetch_file(
    name: str,
    spec: Mapping[str, Any],
    root: Path,
    endpoints: Endpoints,
    recorded: str | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Download one file, verify it (against the pinned hash, else the hash recorded on its
    first fetch, else the hub's LFS hash), move it and its extracted members into place;
    returns its manifest entry."""
    staging = root / STAGING / name
    url = source_url(spec, endpoints)
    hub: dict[str, Any] = {"resolved_revision": None, "hub_sha256": None}
    if spec["kind"] == "hf_dataset":
        downloaded, hub = hf_download(spec, staging, endpoints)
    else:
        downloaded = staging / str(spec["file"])
        http_download(url, downloaded, endpoints)
    digest = sha256_of(downloaded)
    pinned = spec.get("sha256")
    if pinned:
        expected, how, where = pinned, PINNED, f"files.{name}.sha256"
    elif recorded:
        expected, how = recorded, FIRST_USE
        where = f"recorded on its first fetch in {MANIFEST}; delete that entry to accept a new file"
    else:
        expected, how, where = hub["hub_sha256"], HUB_LFS, "the hub's LFS hash"
    if expected is None:
        how = FIRST_USE
    if expected is not None and digest != expected:
        downloaded.unlink()
        raise BioqwenError(
            f"{name}: sha256 of {url} is {digest}, expected {expected} ({where}); "
            "the download was removed, nothing was written"
        )
    dest = root / spec["dest"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(downloaded, dest)
    sizes = {spec["dest"]: dest.stat().st_size}
    extracted: dict[str, str] = {}
    if spec.get("extract"):
        written = extract(dest, spec["extract"], root)
        sizes.update(written)
        extracted = {rel: sha256_of(root / rel) for rel in written}
    shutil.rmtree(staging, ignore_errors=True)
    say(f"fetch-data: {name}: {sizes[spec['dest']]:,} bytes, sha256 {digest} ({how}) -> {dest}")
    return {
        "kind": spec["kind"],
        "url": url,
        "repo": spec["repo"],
        "file": spec["file"],
        "revision": spec["revision"],
        "resolved_revision": hub["resolved_revision"],
        "dest": spec["dest"],
        "sha256": digest,
        "checksum": how,
        "sizes": sizes,
        "extracted": extracted,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def fetch_all(
    files: Mapping[str, Mapping[str, Any]],
    root: Path,
    endpoints: Endpoints,
    say: Callable[[str], None] = print,
) -> dict[str, str]:
    """Fetch every file not already complete, recording each in the manifest as soon as it is
    in place; returns name -> "downloaded" | "complete"."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(root)
    status = {}
    for name, spec in files.items():
        entry = manifest["files"].get(name)
        if is_complete(root, spec, entry):
            say(f"fetch-data: {name}: complete ({root / spec['dest']}), not downloaded again")
            status[name] = "complete"
            continue
        first_use = entry.get("sha256") if entry and entry.get("checksum") == FIRST_USE else None
        manifest["files"][name] = fetch_file(name, spec, root, endpoints, first_use, say)
        atomic_write_json(root / MANIFEST, manifest)
        status[name] = "downloaded"
    with contextlib.suppress(OSError):
        (root / STAGING).rmdir()  # only when empty: partial downloads stay to be resumed
    return status


def fetched_sources(root: str | Path, paths: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Manifest entries of the files a mix reads (source name -> entry), for the data card;
    `paths` maps each source to the file or directory it reads."""
    root = Path(root)
    if not (root / MANIFEST).is_file():
        return {}
    entries = read_manifest(root)["files"].values()
    found = {}
    for source, path in paths.items():
        target = Path(path).resolve()
        for entry in entries:
            extracted = {
                (root / rel).resolve(): h for rel, h in (entry.get("extracted") or {}).items()
            }
            if (root / entry["dest"]).resolve() != target and target not in extracted:
                continue
            found[source] = {
                k: entry.get(k)
                for k in ("url", "revision", "resolved_revision", "sha256", "checksum")
            }
            if target in extracted:  # the file prepare reads came out of this archive
                found[source]["extracted_sha256"] = extracted[target]
    return found
