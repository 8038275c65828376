"""bioqwen.data.fetch against a local server in the hub's and GitHub's URL layouts (no network)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from bioqwen.checkout import plain
from bioqwen.data import fetch
from bioqwen.errors import BioqwenError
from tests.conftest import compose_config
from tests.data.fetch_server import COMMIT, Served, serving

MEDCHAT = b"".join(
    json.dumps({"instruction": f"q{i}", "input": "", "output": "a" * 300}).encode() + b"\n"
    for i in range(4000)
)  # ~1.3 MB: more than one download chunk, so a cut lands mid-file
TAIYI = b'{"conversation_id": 1, "category": "NER"}\n'


def zipped(member: str, data: bytes) -> bytes:
    """A zip holding one member (in a folder, as release archives often do)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"release/{member}", data)
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub_online(monkeypatch):
    """huggingface_hub online for this test only (the suite sets HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


def paper_files() -> Served:
    """The paper's three files in the hub's and GitHub's layouts (small stand-ins)."""
    return Served(
        hub={
            ("tyang816/MedChatZH", "MedChatZH_train.json"): MEDCHAT,
            ("m-a-p/COIG-CQIA", "COIG-CQIA-full.jsonl"): b'{"instruction": "x"}\n',
        },
        releases={
            (
                "DUTIR-BioNLP/Taiyi-LLM",
                "Taiyi_Instruction_Data_001",
                "Taiyi_Instruction_Data_001.zip",
            ): (zipped("Taiyi_Instruction_Data_001.jsonl", TAIYI))
        },
    )


@pytest.fixture
def served():
    """The paper's three files on a local server."""
    with serving(paper_files()) as running:
        yield running


def shipped_files(**sha256: str | None) -> dict:
    """conf/data/fetch/paper.yaml as the job composes it, with sha256 pins replaced."""
    files = plain(compose_config("fetch_data", "data.root=unused").data.files)
    for name, value in sha256.items():
        files[name]["sha256"] = value
    return files


def endpoints(served: Served, retries: int = 2) -> fetch.Endpoints:
    return fetch.Endpoints(hf=served.base, github=served.base, retries=retries, timeout_s=10)


def test_every_dest_is_the_path_prepare_reads_under_data_root(tmp_path):
    files = shipped_files()
    data = compose_config("prepare", "data/mix=stage2", f"data.root={tmp_path}").data
    read = {name: str(s.path) for name, s in data.mix.sources.items()}
    taiyi = files["taiyi"]["extract"]["Taiyi_Instruction_Data_001.jsonl"]
    assert str(tmp_path / taiyi) == read["taiyi"]
    for name in ("medchatzh", "coig_cqia"):
        assert str(tmp_path / files[name]["dest"]) == read[name]
    for name, spec in files.items():
        fetch.check_spec(name, spec, "conf")  # the shipped pins are hashes or null, never junk


def test_fetches_all_three_into_prepares_layout_then_skips_them(tmp_path, served, hub_online):
    files = shipped_files(coig_cqia=None)  # the shipped pin is the real file's hash
    root = tmp_path / "data"
    status = fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert status == dict.fromkeys(files, "downloaded")
    assert (root / "medchatzh/MedChatZH_train.json").read_bytes() == MEDCHAT
    assert (root / "taiyi/Taiyi_Instruction_Data_001.jsonl").read_bytes() == TAIYI
    manifest = json.loads((root / fetch.MANIFEST).read_text())["files"]
    medchat = manifest["medchatzh"]
    assert medchat["sha256"] == sha(MEDCHAT) and medchat["checksum"] == fetch.HUB_LFS
    assert medchat["revision"] == "main" and medchat["resolved_revision"] == COMMIT
    assert manifest["taiyi"]["checksum"] == fetch.FIRST_USE
    assert manifest["taiyi"]["extracted"] == {"taiyi/Taiyi_Instruction_Data_001.jsonl": sha(TAIYI)}
    assert not (root / fetch.STAGING).exists()
    gets = served.get_count("/")
    again = fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert again == dict.fromkeys(files, "complete")
    assert served.get_count("/") == gets  # nothing downloaded again


def test_pinned_checksum_mismatch_is_one_error_and_writes_nothing(tmp_path, served, hub_online):
    files = {"coig_cqia": shipped_files()["coig_cqia"]}  # the real hash; the server's differs
    root = tmp_path / "data"
    with pytest.raises(BioqwenError, match=r"coig_cqia: sha256 of .* expected f2a6a758") as err:
        fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert "\n" not in str(err.value) and "nothing was written" in str(err.value)
    assert not (root / "coig_cqia").exists() and not (root / fetch.MANIFEST).exists()


def test_a_later_download_must_match_the_hash_recorded_on_first_fetch(tmp_path, served):
    files = {"taiyi": shipped_files()["taiyi"]}  # no pinned hash: trust on first use
    root = tmp_path / "data"
    fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    recorded = json.loads((root / fetch.MANIFEST).read_text())["files"]["taiyi"]["sha256"]
    (root / "taiyi/Taiyi_Instruction_Data_001.zip").write_bytes(b"changed")  # a corrupt copy
    key = next(iter(served.releases))
    served.releases[key] = zipped("Taiyi_Instruction_Data_001.jsonl", b"other\n")
    with pytest.raises(BioqwenError, match=f"expected {recorded} \\(recorded on its first fetch"):
        fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert (root / "taiyi/Taiyi_Instruction_Data_001.jsonl").read_bytes() == TAIYI


def test_release_download_cut_mid_file_resumes_with_a_range_request(tmp_path, served):
    files = {"taiyi": shipped_files()["taiyi"]}
    big = zipped("Taiyi_Instruction_Data_001.jsonl", MEDCHAT)
    key = next(iter(served.releases))
    served.releases[key] = big
    path = "/DUTIR-BioNLP/Taiyi-LLM/releases/download/Taiyi_Instruction_Data_001/"
    served.cut.add(path + "Taiyi_Instruction_Data_001.zip")
    root = tmp_path / "data"
    fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert (root / "taiyi/Taiyi_Instruction_Data_001.jsonl").read_bytes() == MEDCHAT
    gets = [r for m, p, r in served.requests if m == "GET" and p.startswith(path)]
    assert gets[0] is None and gets[1] == f"bytes={len(big) // 2}-"  # resumed, not restarted


def test_hub_download_cut_mid_file_resumes_with_a_range_request(
    tmp_path, served, hub_online, monkeypatch
):
    from huggingface_hub import constants

    # huggingface_hub resumes from the last whole chunk it wrote (10 MB by default, more than
    # this file: it would restart from 0, cleanly); smaller chunks show the resume.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    files = {"medchatzh": shipped_files()["medchatzh"]}
    path = f"/datasets/tyang816/MedChatZH/resolve/{COMMIT}/MedChatZH_train.json"
    served.cut.add(path)
    root = tmp_path / "data"
    fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert (root / "medchatzh/MedChatZH_train.json").read_bytes() == MEDCHAT
    gets = [r for m, p, r in served.requests if m == "GET" and p == path]
    assert gets[0] is None and len(gets) == 2
    resumed_at = int(gets[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(MEDCHAT) // 2


def test_server_that_keeps_failing_is_one_error_and_the_part_resumes_next_run(tmp_path, served):
    files = {"taiyi": shipped_files()["taiyi"]}
    path = "/DUTIR-BioNLP/Taiyi-LLM/releases/download/Taiyi_Instruction_Data_001/"
    asset = path + "Taiyi_Instruction_Data_001.zip"
    key = next(iter(served.releases))
    served.releases[key] = zipped("Taiyi_Instruction_Data_001.jsonl", MEDCHAT)
    root = tmp_path / "data"

    class AlwaysCut(set):  # every request to the asset stops half-way through what is left
        def discard(self, item: str) -> None:
            pass

    served.cut = AlwaysCut({asset})
    with pytest.raises(BioqwenError, match=r"download stopped at .* after 2 tries") as err:
        fetch.fetch_all(files, root, endpoints(served, retries=1), say=lambda _: None)
    assert "\n" not in str(err.value)
    assert not (root / "taiyi").exists()  # nothing in the layout prepare reads
    part = root / fetch.STAGING / "taiyi" / "Taiyi_Instruction_Data_001.zip"
    held = part.stat().st_size
    assert held > 0
    served.cut = set()
    fetch.fetch_all(files, root, endpoints(served), say=lambda _: None)
    assert served.requests[-1][2] == f"bytes={held}-"
    assert (root / "taiyi/Taiyi_Instruction_Data_001.jsonl").read_bytes() == MEDCHAT


def test_fetched_sources_name_the_manifest_entries_a_mix_reads(tmp_path, served, hub_online):
    root = tmp_path / "data"
    fetch.fetch_all(shipped_files(coig_cqia=None), root, endpoints(served), say=lambda _: None)
    paths = {
        "taiyi": str(root / "taiyi/Taiyi_Instruction_Data_001.jsonl"),
        "self_cognition": str(root / "self_cognition.json"),
    }
    found = fetch.fetched_sources(root, paths)
    assert set(found) == {"taiyi"} and found["taiyi"]["extracted_sha256"] == sha(TAIYI)
    assert fetch.fetched_sources(tmp_path / "elsewhere", paths) == {}


def test_a_malformed_manifest_names_the_file(tmp_path):
    (tmp_path / fetch.MANIFEST).write_text("{not json")
    with pytest.raises(BioqwenError, match=f"{fetch.MANIFEST}:1: malformed JSON"):
        fetch.read_manifest(Path(tmp_path))


def test_the_card_shows_the_fetched_sources_checksums(tmp_path, served, hub_online):
    from bioqwen.data.card import assemble, card_markdown
    from tests.data.test_card import CARD

    root = tmp_path / "data"
    fetch.fetch_all(shipped_files(coig_cqia=None), root, endpoints(served), say=lambda _: None)
    data = plain(compose_config("prepare", "data/mix=stage2", f"data.root={root}").data)
    fetched = assemble(data, 1, [], fetch_tally(data), {"train": 0, "validation": 0})["fetched"]
    assert set(fetched) == {"taiyi", "medchatzh", "coig_cqia"}  # self_cognition: not fetched
    assert fetched["medchatzh"]["sha256"] == sha(MEDCHAT)
    text = card_markdown({**CARD, "fetched": fetched})
    assert "## Downloads (bioqwen fetch-data" in text
    assert f"`{sha(MEDCHAT)}` | {fetch.HUB_LFS} |" in text
    assert f"extracted `{sha(TAIYI)}`" in text and f"main ({COMMIT})" in text
    assert "## Downloads" not in card_markdown(CARD)


def fetch_tally(data: dict):
    """An empty tally over the mix's sources (the card of a mix with nothing in it)."""
    from bioqwen.data.card import SourceStats, Tally

    return Tally(sources={name: SourceStats() for name in data["mix"]["sources"]})
