"""`bioqwen fetch-data data.root=<downloads>`: the paper's raw data by name (bioqwen.data.fetch).

The file list and the root are checked before the run directory is opened; each file lands in
the layout `bioqwen prepare data/mix=stage2 data.root=<downloads>` reads only once its sha256 is
checked, and <downloads>/fetch_manifest.json records it at once (an interrupted run keeps what
it finished; a partial download stays under <downloads>/.fetch/ and the next run resumes it).
The run directory holds the config, metrics (per file: downloaded or complete) and lineage
(the manifest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen import checkout
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import job_main, open_run, plain


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fetch every file not already complete into data.root; metrics say which were."""
    from bioqwen.data import fetch

    data = checkout.plain(cfg.data, "data", "give data.root=<where the downloads go>")
    root, files, settings = Path(data["root"]), data["files"], plain(cfg.fetch)
    unknown = sorted(set(settings["only"]) - set(files))
    if unknown:
        raise BioqwenError(f"fetch.only: unknown file {unknown[0]!r} (known: {sorted(files)})")
    chosen = {n: s for n, s in files.items() if not settings["only"] or n in settings["only"]}
    for name, spec in chosen.items():
        fetch.check_spec(name, spec, "conf/data/fetch")
    if root.exists() and not root.is_dir():
        raise BioqwenError(f"data.root={root}: not a directory")
    fetch.read_manifest(root)  # a malformed manifest stops the job before anything is fetched
    endpoints = fetch.Endpoints(
        hf=str(settings["hf_endpoint"]),
        github=str(settings["github_url"]),
        retries=int(settings["retries"]),
        timeout_s=float(settings["timeout_s"]),
    )
    with open_run(cfg, "fetch_data", name="fetch-data", tags=["fetch-data"]) as job:
        status = fetch.fetch_all(chosen, root, endpoints)
        manifest = fetch.read_manifest(root)
        job.lineage(root=str(root.resolve()), manifest=manifest["files"])
        metrics: dict[str, Any] = {f"fetch/{name}": state for name, state in status.items()}
        metrics["fetch/downloaded"] = sum(s == "downloaded" for s in status.values())
        metrics["fetch/complete"] = sum(s == "complete" for s in status.values())
        job.finish(metrics)
    return metrics


main = job_main("fetch_data", run)
