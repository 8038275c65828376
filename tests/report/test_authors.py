"""The authors' file names -> paper rows and benchmarks; unknown names are never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bioqwen.report import authors

SHIPPED = Path(__file__).resolve().parents[2] / "samples" / "benchmarks" / "authors_results"


@pytest.mark.parametrize(
    ("name", "model", "stage", "benchmark"),
    [
        ("BioQwen-0.5B-stage2-ner-ncbi-disease.csv", "BioQwen-0.5B", "stage2", "ncbi"),
        ("BioQwen-1.5B-stage1-ner-bc5cdr.csv", "BioQwen-1.5B", "stage1", "bc5cdr"),
        ("taiyi-ner-bc5cdr.csv", "Taiyi (7B)", None, "bc5cdr"),
        ("qwen-chat-qa-cmedqa2.csv", "Qwen1.5-Chat 1.8B", None, "cmedqa2"),
        # A released fine-tuned model without a stage is the stage-2 model.
        ("BioQwen-1.8B-qa-webmedqa.csv", "BioQwen-1.8B", "stage2", "webmedqa"),
    ],
)
def test_known_names(name: str, model: str, stage: str | None, benchmark: str, labels: Any) -> None:
    parsed = authors.parse_name(name, labels)
    assert parsed is not None
    assert (parsed.model, parsed.stage, parsed.benchmark) == (model, stage, benchmark)


@pytest.mark.parametrize(
    "name",
    [
        "taiyi-ner-ncbi-disease.head20.csv",  # a cut-down copy, not a released file
        "gpt4-qa-cmedqa2.csv",  # a model the labels do not list
        "BioQwen-1.8B-qa-medqa.csv",  # a dataset the labels do not list
        "predictions.csv",
    ],
)
def test_unknown_names_are_not_guessed(name: str, labels: Any) -> None:
    assert authors.parse_name(name, labels) is None


def test_the_shipped_folder_is_all_known(labels: Any) -> None:
    known, unknown = authors.list_files(SHIPPED, labels)
    assert unknown == []
    assert {(f.task, f.benchmark) for f in known} == {
        ("ner", "ncbi"),
        ("qa", "cmedqa2"),
        ("qa", "webmedqa"),
        ("qa", "icliniq"),
    }


def test_an_upper_case_extension_is_read(tmp_path: Path, labels: Any) -> None:
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "qwen-chat-qa-cmedqa2.CSV").write_text("prompt,answer,response\n", "utf-8")
    known, unknown = authors.list_files(tmp_path, labels)
    assert [(f.path.name, f.benchmark) for f in known] == [("qwen-chat-qa-cmedqa2.CSV", "cmedqa2")]
    assert unknown == []


@pytest.mark.parametrize(
    "names",
    [
        ("a/qwen-chat-qa-cmedqa2.csv", "b/qwen-chat-qa-cmedqa2.csv"),  # one name, two folders
        ("BioQwen-1.8B-qa-webmedqa.csv", "BioQwen-1.8B-stage2-qa-webmedqa.csv"),  # one cell
    ],
)
def test_two_files_for_one_cell_are_an_error_naming_both(
    tmp_path: Path, labels: Any, names: tuple[str, str]
) -> None:
    from bioqwen.errors import BioqwenError

    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("prompt,answer,response\n", "utf-8")
    with pytest.raises(BioqwenError, match="two files for") as raised:
        authors.list_files(tmp_path, labels)
    assert all(str(tmp_path / name) in str(raised.value) for name in names)
