"""`bioqwen fetch-data` through the real CLI against a local server (no network)."""

from __future__ import annotations

import json

import pytest

from bioqwen.data import fetch
from tests.conftest import cli
from tests.data.fetch_server import serving
from tests.data.test_fetch import MEDCHAT, TAIYI, paper_files, sha


def fetch_data(tmp_path, base: str, *overrides: str, run: str = "run"):
    """`bioqwen fetch-data` with the hub and GitHub at `base`; the hub online for it only."""
    return cli(
        "fetch-data",
        f"data.root={tmp_path / 'data'}",
        f"fetch.hf_endpoint={base}",
        f"fetch.github_url={base}",
        "tracking=disabled",
        *overrides,
        run_dir=tmp_path / run,
        HF_HUB_OFFLINE="0",
        HF_HUB_DISABLE_TELEMETRY="1",
    )


def test_fetch_data_downloads_then_skips_and_records_the_manifest(tmp_path):
    with serving(paper_files()) as served:
        done = fetch_data(tmp_path, served.base, "data.files.coig_cqia.sha256=null")
        assert done.returncode == 0, done.stderr[-2000:]
        data = tmp_path / "data"
        assert (data / "medchatzh/MedChatZH_train.json").read_bytes() == MEDCHAT
        assert (data / "taiyi/Taiyi_Instruction_Data_001.jsonl").read_bytes() == TAIYI
        metrics = json.loads((tmp_path / "run/metrics.json").read_text())
        assert metrics["fetch/downloaded"] == 3 and metrics["fetch/medchatzh"] == "downloaded"
        lineage = json.loads((tmp_path / "run/lineage.json").read_text())
        assert lineage["manifest"]["medchatzh"]["sha256"] == sha(MEDCHAT)
        gets = served.get_count("/")
        again = fetch_data(tmp_path, served.base, "data.files.coig_cqia.sha256=null", run="again")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "medchatzh: complete" in again.stdout and served.get_count("/") == gets


def test_fetch_data_checksum_mismatch_is_one_error_line_exit_2(tmp_path):
    with serving(paper_files()) as served:
        done = fetch_data(tmp_path, served.base, "fetch.only=[coig_cqia]")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("bioqwen: error:")]
    assert len(errors) == 1 and "coig_cqia: sha256 of" in errors[0]
    assert not (tmp_path / "data/coig_cqia").exists()
    assert not (tmp_path / "data" / fetch.MANIFEST).exists()


@pytest.mark.slow
def test_fetch_data_without_a_root_or_with_an_unknown_file_says_so(tmp_path):
    missing = cli("fetch-data", "tracking=disabled", run_dir=tmp_path / "run")
    assert missing.returncode == 2 and "data.root is not set" in missing.stderr
    unknown = fetch_data(tmp_path, "http://127.0.0.1:9", "fetch.only=[pubmed]")
    assert unknown.returncode == 2 and "fetch.only: unknown file 'pubmed'" in unknown.stderr
