"""The paper's questions: `benchmark.questions_from` selects items; QA answers match the gold."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.eval import questions, scoring
from tests.eval.known_answers import ROOT, WEBMEDQA, webmedqa_rows, write_csv

FIXTURES = ROOT / "tests/fixtures/eval"
HEAD20 = ROOT / "samples/benchmarks/ncbi_predictions/taiyi-ner-ncbi-disease.head20.csv"


def _bench(compose: Callable[..., DictConfig], name: str, *overrides: str) -> dict[str, Any]:
    cfg = compose("evaluate", f"benchmark={name}", *overrides)
    return OmegaConf.to_container(cfg.benchmark, resolve=True)  # type: ignore[return-value]


def test_questions_from_gives_exactly_that_files_questions_in_its_order(
    compose, tmp_path: Path
) -> None:
    rows = webmedqa_rows()
    picked = [rows[7], rows[2], rows[30]]
    path = write_csv(tmp_path / "three.csv", ["prompt", "answer", "response"], picked)
    bench = questions.select(_bench(compose, "webmedqa", f"benchmark.questions_from={path}"))
    assert [i.question for i in bench.items] == [r[0] for r in picked]
    assert [i.answer for i in bench.items] == [r[1] for r in picked]


def test_questions_from_an_ncbi_prediction_file_selects_its_documents_in_order(compose) -> None:
    bench = questions.select(_bench(compose, "ncbi", f"benchmark.questions_from={HEAD20}"))
    with open(HEAD20, encoding="utf-8", newline="") as handle:
        prompts = [r["prompt"].replace("\r\n", "\n").strip() for r in csv.DictReader(handle)]
    assert [d.input_text("abstract").strip() for d in bench.items] == prompts


def test_raw_corpus_accepts_any_positive_answer_and_names_a_wrong_row(
    compose, tmp_path: Path
) -> None:
    data = tmp_path / "cmedqa2"
    shutil.copytree(FIXTURES / "cmedqa2", data)
    with open(data / "test_candidates.txt", "a", encoding="utf-8") as handle:
        handle.write("101,9002,2,1\n")  # a second correct answer for question 101
    cfg = _bench(compose, "cmedqa2", f"benchmark.data_dir={data}")
    good = [
        ["孩子发烧三天了怎么办？", "可以先物理降温。", "r"],
        ["牙龈出血是什么原因？", "可能是牙周炎，建议口腔科检查。", "r"],
    ]
    path = write_csv(tmp_path / "ok.csv", ["prompt", "answer", "response"], good)
    assert questions.check_answers([(n + 2, q, a) for n, (q, a, _) in enumerate(good)], cfg, path)
    bad = [*good, ["高血压患者可以喝咖啡吗？", "可能是牙周炎，建议口腔科检查。", "r"]]
    path = write_csv(tmp_path / "bad.csv", ["prompt", "answer", "response"], bad)
    with pytest.raises(BioqwenError, match=r"bad\.csv:4: answer column differs from the gold"):
        scoring.score_file(path, cfg)
    with pytest.raises(BioqwenError, match=r"bad\.csv:4: answer column differs"):
        questions.select({**cfg, "questions_from": str(path)})


def test_score_checks_answers_against_the_shipped_gold(compose, tmp_path: Path) -> None:
    rows = webmedqa_rows()
    scoring.score_file(WEBMEDQA, _bench(compose, "webmedqa"))  # the gold file itself agrees
    changed = [*rows[:4], [rows[4][0], rows[4][1] + "另外。", "r"]]
    path = write_csv(tmp_path / "changed.csv", ["prompt", "answer", "response"], changed[::-1])
    with pytest.raises(BioqwenError, match=r"changed\.csv:2: answer column differs .*另外"):
        scoring.score_file(path, _bench(compose, "webmedqa"))
    columns = ["prompt", "answer", "response"]
    stranger = write_csv(tmp_path / "other.csv", columns, [["何为X？", "a", "b"]])
    with pytest.raises(BioqwenError, match=r"other\.csv:2: question is not in the gold"):
        scoring.score_file(stranger, _bench(compose, "webmedqa"))
    # Without gold files the file's own answers are the references.
    no_gold = _bench(compose, "webmedqa", f"benchmark.data_dir={tmp_path / 'none'}")
    assert questions.check_answers([(2, "何为X？", "a")], no_gold, stranger) is False
