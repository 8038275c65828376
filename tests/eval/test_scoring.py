"""Scoring predictions files in the authors' format: joins, keys, and bad input."""

from __future__ import annotations

import ast
import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.eval import gold, scoring
from bioqwen.eval.ner import authors_result
from tests.eval.known_answers import write_csv

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/eval"
HEAD20 = ROOT / "samples/benchmarks/ncbi_predictions/taiyi-ner-ncbi-disease.head20.csv"
NCBI = ROOT / "samples/benchmarks/ncbi"
TYPES = ["Chemical", "Disease"]


def _bench(compose: Callable[..., DictConfig], name: str, *overrides: str) -> dict[str, Any]:
    cfg = compose("score", f"benchmark={name}", "predictions=unused", *overrides)
    return OmegaConf.to_container(cfg.benchmark, resolve=True)  # type: ignore[return-value]


def _independent_ncbi_counts() -> tuple[int, int, int]:
    """TP/FP/FN of the head20 file computed straight from the corpus lines (no bioqwen code)."""
    gold: dict[str, set[str]] = {}
    for path in NCBI.glob("NCBI*_corpus.txt"):
        pmid_text: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if "|a|" in line[:20]:
                pmid, _, text = line.split("|", 2)
                pmid_text[pmid] = text.strip()
                gold.setdefault(text.strip(), set())
            elif line.count("\t") >= 4:
                cols = line.split("\t")
                gold[pmid_text[cols[0]]].add(cols[3])
    tp = fp = fn = 0
    with open(HEAD20, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            predicted = set(ast.literal_eval(row["result"])[0]["response"])
            truth = gold[row["prompt"].replace("\r\n", "\n").strip()]
            tp, fp, fn = (
                tp + len(predicted & truth),
                fp + len(predicted - truth),
                fn + len(truth - predicted),
            )
    return tp, fp, fn


def test_head20_ncbi_predictions_join_all_splits_and_score(compose) -> None:
    metrics = scoring.score_file(HEAD20, _bench(compose, "ncbi"))
    tp, fp, fn = _independent_ncbi_counts()
    assert metrics["n_documents"] == 20
    assert metrics["precision/Disease"] == pytest.approx(tp / (tp + fp))
    assert metrics["recall/Disease"] == pytest.approx(tp / (tp + fn))
    assert round(metrics["f1/Disease"], 4) == 0.7255  # Taiyi's published NCBI F1 is 0.724
    assert metrics["macro_f1"] == metrics["f1/Disease"]
    assert metrics["balanced_accuracy"] == metrics["recall/Disease"]
    assert metrics["unparsable_rate"] == 0.0
    expected = {"f1/Disease", "precision/Disease", "recall/Disease", "macro_f1"}
    assert expected | {"balanced_accuracy", "n_documents", "unparsable_rate"} <= set(metrics)


def test_ner_join_needs_the_split_holding_the_prompt(compose, tmp_path: Path) -> None:
    # Only the test split present: the head20 rows (training abstracts) have no gold there.
    shutil.copy(NCBI / "NCBItestset_corpus.txt", tmp_path)
    with pytest.raises(BioqwenError, match=r"head20.csv:2: prompt has no gold document"):
        scoring.score_file(HEAD20, _bench(compose, "ncbi", f"benchmark.data_dir={tmp_path}"))


def test_unmatched_prompt_names_file_row_and_prompt(compose) -> None:
    path = FIXTURES / "ner_predictions_unmatched.csv"
    with pytest.raises(BioqwenError, match=r"unmatched.csv:2: .*'This abstract is in no gold"):
        scoring.score_file(path, _bench(compose, "ncbi"))


def test_wrong_columns_name_the_file(compose) -> None:
    path = FIXTURES / "qa_predictions_bad_columns.csv"
    with pytest.raises(
        BioqwenError,
        match=r"bad_columns.csv:1: missing column\(s\) prompt,response",
    ):
        scoring.score_file(path, _bench(compose, "webmedqa"))
    with pytest.raises(BioqwenError, match=r"missing column\(s\) result"):
        scoring.score_file(FIXTURES / "qa_predictions_empty_response.csv", _bench(compose, "ncbi"))


def test_missing_predictions_file(compose, tmp_path: Path) -> None:
    with pytest.raises(BioqwenError, match="predictions file not found"):
        scoring.score_file(tmp_path / "none.csv", _bench(compose, "webmedqa"))


def test_empty_response_scores_zero(compose, tmp_path: Path) -> None:
    # Constructed questions: scored against a webMedQA without gold files (answers unchecked).
    bench = _bench(compose, "webmedqa", f"benchmark.data_dir={tmp_path}")
    metrics = scoring.score_file(FIXTURES / "qa_predictions_empty_response.csv", bench)
    # Row 1 is empty (zero), row 2 answers exactly: every mean is half of a perfect pair's.
    assert metrics["n_samples"] == 2
    assert metrics["rouge-1"] == pytest.approx(50.0, abs=1e-4)
    # The empty response is in no language: not counted as the wrong one.
    assert metrics["language_fidelity"] == 1.0


def test_empty_ner_result_cell_is_unparsable_not_a_crash(compose, tmp_path: Path) -> None:
    with open(HEAD20, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:2]
    rows[1]["result"] = ""
    path = tmp_path / "preds.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "result"])
        writer.writeheader()
        writer.writerows(rows)
    metrics = scoring.score_file(path, _bench(compose, "ncbi"))
    assert metrics["n_documents"] == 2 and metrics["unparsable_rate"] == 0.5


def test_icliniq_reports_word_level_alongside(compose) -> None:
    path = ROOT / "samples/benchmarks/icliniq/BioQwen-1.8B-qa-icliniq.csv"
    metrics = scoring.score_file(path, _bench(compose, "icliniq"))
    keys = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "gleu", "rouge-1", "rouge-2", "rouge-l")
    assert set(keys) <= set(metrics)
    assert {f"word/{k}" for k in keys} <= set(metrics)
    assert metrics["word/bleu-1"] < metrics["bleu-1"]  # characters overlap more than words
    assert metrics["language_fidelity"] == 1.0


def test_gold_as_predictions_scores_perfectly_on_bc5cdr(compose, tmp_path: Path) -> None:
    from bioqwen.eval import gold
    from bioqwen.eval.ner import authors_result

    cfg = _bench(compose, "bc5cdr")
    docs = gold.load_benchmark({**cfg, "splits": ["dev"], "limit": 40}).items
    path = tmp_path / "gold.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "result"])
        for doc in docs:
            writer.writerow(
                [doc.text, authors_result({t: sorted(v) for t, v in doc.gold.items()}, TYPES)]
            )
    metrics = scoring.score_file(path, cfg)
    assert metrics["n_documents"] == 40
    assert metrics["f1/Chemical"] == metrics["f1/Disease"] == metrics["macro_f1"] == 1.0
    assert metrics["balanced_accuracy"] == 1.0


def test_ner_join_uses_every_split_present_not_only_the_evaluated_ones(
    compose, tmp_path: Path
) -> None:
    # CMeEE evaluates dev by default; a predictions row from train still finds its gold when
    # CMeEE_train.json is in data_dir.
    from bioqwen.eval.ner import authors_result

    shutil.copy(ROOT / "samples/benchmarks/cmeee/CMeEE_dev.json", tmp_path)
    train = [
        {
            "text": "患者服用阿司匹林后胃出血。",
            "entities": [
                {"start_idx": 4, "end_idx": 7, "type": "dru", "entity": "阿司匹林"},
                {"start_idx": 9, "end_idx": 11, "type": "dis", "entity": "胃出血"},
            ],
        }
    ]
    (tmp_path / "CMeEE_train.json").write_text(json.dumps(train, ensure_ascii=False), "utf-8")
    path = tmp_path / "preds.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "result"])
        cell = authors_result({"Drug": ["阿司匹林"], "Disease": ["出血"]}, ["Disease", "Drug"])
        writer.writerow([" 患者服用阿司匹林后胃出血。\n", cell])
    cfg = _bench(compose, "cmeee", f"benchmark.data_dir={tmp_path}")
    metrics = scoring.score_file(path, cfg)
    assert metrics["n_documents"] == 1
    assert metrics["f1/Drug"] == 1.0 and metrics["f1/Disease"] == 0.0
    assert metrics["macro_f1"] == 0.5 and metrics["balanced_accuracy"] == 0.5


def test_recipe_by_hand_title_gold_case_placeholders_sets_and_sums(compose, tmp_path: Path) -> None:
    """Every item-5 rule through `score` on a CONSTRUCTED two-document NCBI-format corpus."""
    (tmp_path / "NCBItrainset_corpus.txt").write_text(
        "1|t|Wilson disease in a child.\n"
        "1|a|Copper toxicosis was seen. Copper toxicosis recurred.\n"
        "1\t0\t14\tWilson disease\tSpecificDisease\tD1\n"
        "1\t27\t43\tCopper toxicosis\tModifier\tD2\n"
        "1\t54\t70\tCopper toxicosis\tModifier\tD2\n"
        "\n"
        "2|t|Ataxia.\n"
        "2|a|Patients had ataxia and chorea.\n"
        "2\t0\t6\tAtaxia\tSpecificDisease\tD3\n"
        "2\t21\t27\tataxia\tSpecificDisease\tD3\n"
        "2\t32\t38\tchorea\tDiseaseClass\tD4\n\n",
        encoding="utf-8",
    )
    path = tmp_path / "preds.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "result"])
        # Prompts are the abstracts alone, as the authors'; gold covers title + abstract.
        writer.writerow(
            [
                "Copper toxicosis was seen. Copper toxicosis recurred.",
                "[{'type': 'Disease', 'response': ['Wilson disease', 'copper toxicosis', 'None']}]",
            ]
        )
        writer.writerow(
            [
                "Patients had ataxia and chorea.",
                "[{'type': 'Disease', 'response': ['ataxia', 'ataxia', 'chorea']}]",
            ]
        )
    metrics = scoring.score_file(path, _bench(compose, "ncbi", f"benchmark.data_dir={tmp_path}"))
    # Doc 1: gold {Wilson disease (title), Copper toxicosis}; 'copper toxicosis' (case) and
    #        'None' are false positives -> TP 1, FP 2, FN 1.
    # Doc 2: gold {Ataxia (title), ataxia, chorea}; the repeated 'ataxia' counts once
    #        -> TP 2, FP 0, FN 1.   Summed: TP 3, FP 2, FN 2.
    assert metrics["precision/Disease"] == pytest.approx(3 / 5)
    assert metrics["recall/Disease"] == pytest.approx(3 / 5)
    assert metrics["f1/Disease"] == pytest.approx(3 / 5)
    assert metrics["macro_f1"] == pytest.approx(3 / 5)
    assert metrics["balanced_accuracy"] == pytest.approx(3 / 5)  # mean TP / (TP + FN)
    assert metrics["n_documents"] == 2 and metrics["unparsable_rate"] == 0.0


def test_ncbi_reports_each_split_beside_all_splits_and_counts_repeated_prompts(
    compose, tmp_path: Path
) -> None:
    cfg = _bench(compose, "ncbi")
    docs = gold.load_benchmark({**cfg, "limit": None}).items
    train = [d for d in docs if d.split == "train"][:5]
    test = [d for d in docs if d.split == "test"][:5]
    rows = [
        [d.text, authors_result({t: sorted(v) for t, v in d.gold.items()}, ["Disease"])]
        for d in train
    ]
    rows += [[d.text, authors_result({}, ["Disease"])] for d in test]
    rows.append(rows[0])  # a repeated prompt: scored once, counted
    metrics = scoring.score_file(write_csv(tmp_path / "p.csv", ["prompt", "result"], rows), cfg)
    assert metrics["split/train/macro_f1"] == 1.0 and metrics["split/test/macro_f1"] == 0.0
    assert metrics["split/train/n_documents"] == metrics["split/test/n_documents"] == 5
    assert 0 < metrics["macro_f1"] < 1 and metrics["n_documents"] == 10
    assert metrics["n_duplicates"] == 1
