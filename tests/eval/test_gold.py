"""Gold readers on the shipped corpora and the CONSTRUCTED raw-format fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.eval import gold, ner_gold

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/eval"


def _bench(compose: Callable[..., DictConfig], name: str, *overrides: str) -> dict[str, Any]:
    cfg = compose("evaluate", f"benchmark={name}", *overrides)
    return OmegaConf.to_container(cfg.benchmark, resolve=True)  # type: ignore[return-value]


def test_ncbi_all_splits_792_unique_and_every_class_is_disease(compose) -> None:
    bench = gold.load_benchmark(_bench(compose, "ncbi"))
    assert len(bench.items) == 792  # 593 + 100 + 100 entries, PMID 8528200 twice in train
    assert [bench.items[0].split, bench.items[-1].split] == ["train", "dev"]
    assert bench.types == ["Disease"]
    first = bench.items[0]
    assert first.id == "10192393"
    # Title mention (SpecificDisease) and abstract mentions of other classes are all Disease.
    assert {"skin tumour", "colon cancers", "pilomatricomas"} <= first.gold["Disease"]
    assert set(first.gold) == {"Disease"}


def test_ncbi_classes_map_through_the_config(compose) -> None:
    cfg = _bench(compose, "ncbi", "benchmark.splits=[test]")
    by_id = {d.id: d for d in gold.load_benchmark(cfg).items}
    # Modifier, DiseaseClass, SpecificDisease and CompositeMention mentions are all Disease.
    assert {"copper toxicosis", "inherited disorder", "Wilson disease"} <= by_id["9949209"].gold[
        "Disease"
    ]
    assert "breast and/or ovarian cancer" in by_id["9774970"].gold["Disease"]
    # A class left out of `types` is not gold.
    only_specific = gold.load_benchmark({**cfg, "types": {"SpecificDisease": "Disease"}})
    mentions = {d.id: d for d in only_specific.items}["9949209"].gold["Disease"]
    assert "inherited disorder" not in mentions and "Wilson disease" in mentions


def test_bc5cdr_prefers_bioc_and_takes_first_chunk_of_discontinuous_mentions(compose) -> None:
    cfg = _bench(compose, "bc5cdr", "benchmark.splits=[test]")
    assert gold.split_path(cfg, "test").name == "CDR_TestSet.BioC.xml"
    bench = gold.load_benchmark(cfg)
    assert len(bench.items) == 500
    by_id = {d.id: d for d in bench.items}
    # Composite 'end-stage or malignant liver disease': IndividualMention 'end-stage liver
    # disease' is discontinuous (914+9, 937+13) -> first chunk 'end-stage'.
    doc = next(
        d for d in bench.items if "end-stage or malignant liver disease" in d.gold["Disease"]
    )
    assert {"end-stage", "malignant liver disease"} <= doc.gold["Disease"]
    # Contiguous IndividualMentions are included as they are.
    assert any({"hemorrhagic", "cystitis"} <= d.gold["Disease"] for d in by_id.values())


def test_bc5cdr_all_splits_1500_and_pubtator_matches_bioc(compose) -> None:
    cfg = _bench(compose, "bc5cdr")
    bioc = gold.load_benchmark({**cfg, "format": "bioc"}).items
    pubtator = gold.load_benchmark({**cfg, "format": "pubtator"}).items
    assert len(bioc) == 1500  # the paper scored all 1,500 abstracts
    assert [d.split for d in bioc[::500]] == ["train", "test", "dev"]
    assert [d.id for d in bioc] == [d.id for d in pubtator]
    for a, b in zip(bioc, pubtator, strict=True):
        assert (a.gold, a.title, a.text) == (b.gold, b.title, b.text), a.id
    # The corpus's one off-by-one first-chunk offset (6415512) does not leak into the gold.
    (doc,) = [d for d in bioc if d.id == "6415512"]
    assert "atypical absence" in doc.gold["Disease"]
    assert " atypical absenc" not in doc.gold["Disease"]


def test_split_selection_is_configurable(compose) -> None:
    ncbi = _bench(compose, "ncbi", "benchmark.splits=[test]")
    assert len(gold.load_benchmark(ncbi).items) == 100
    bc5cdr = _bench(compose, "bc5cdr", "benchmark.splits=[dev,test]")
    items = gold.load_benchmark(bc5cdr).items
    assert len(items) == 1000 and items[0].split == "dev" and items[-1].split == "test"


def test_pubtator_composite_first_chunk_from_individual_mentions(tmp_path: Path) -> None:
    path = tmp_path / "x.PubTator.txt"
    path.write_text(
        "1|t|Liver.\n1|a|Patients with end-stage or malignant liver disease.\n"
        "1\t21\t57\tend-stage or malignant liver disease\tDisease\tD1|D2\t"
        "end-stage liver disease|malignant liver disease\n1\tCID\tD9\tD1\n\n",
        encoding="utf-8",
    )
    (doc,) = ner_gold.read_pubtator(path, "test", {"Disease": "Disease"})
    assert doc.gold["Disease"] == {
        "end-stage or malignant liver disease",
        "end-stage",
        "malignant liver disease",
    }


def test_cmeee_type_mapping_and_unscored_types(compose) -> None:
    bench = gold.load_benchmark(_bench(compose, "cmeee", "benchmark.limit=200"))
    assert len(bench.items) == 200 and bench.types == ["Disease", "Drug"]
    raw = json.loads((ROOT / "samples/benchmarks/cmeee/CMeEE_dev.json").read_text("utf-8"))[:200]
    expected_dis = sum(len({e["entity"] for e in r["entities"] if e["type"] == "dis"}) for r in raw)
    assert sum(len(d.gold.get("Disease", ())) for d in bench.items) == expected_dis
    assert all(set(d.gold) <= {"Disease", "Drug"} for d in bench.items)


def test_cmeee_file_without_gold_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "CMeEE_test.json").write_text('[{"text": "无标注"}]', encoding="utf-8")
    with pytest.raises(BioqwenError, match="record 0 has no 'entities'"):
        ner_gold.read_cmeee(tmp_path / "CMeEE_test.json", "test", {"dis": "Disease"})


def test_missing_gold_file_names_it(compose, tmp_path: Path) -> None:
    cfg = _bench(compose, "ncbi", f"benchmark.data_dir={tmp_path}")
    with pytest.raises(BioqwenError, match=r"gold file not found: .*NCBItrainset_corpus.txt"):
        gold.load_benchmark(cfg)
    with pytest.raises(BioqwenError, match="no gold file found for benchmark 'ncbi'"):
        gold.available_splits(cfg)


def test_unknown_split_and_reader(compose) -> None:
    with pytest.raises(BioqwenError, match="no file for split 'valid'"):
        gold.load_benchmark(_bench(compose, "ncbi", "benchmark.splits=[valid]"))
    bench = {**_bench(compose, "ncbi"), "reader": "nope"}  # a library caller's mapping
    with pytest.raises(BioqwenError, match=r"benchmark\.reader='nope'"):
        gold.load_benchmark(bench)


def test_paper_csv_reader(compose) -> None:
    bench = gold.load_benchmark(_bench(compose, "webmedqa"))
    assert len(bench.items) == 50 and bench.task == "qa" and bench.lang == "zh"
    assert bench.items[0].question.startswith("云南现在治疗白癜风")
    assert all("\r" not in i.answer for i in bench.items)


def test_cmedqa2_reader_on_constructed_fixture(compose) -> None:
    cfg = _bench(compose, "cmedqa2", f"benchmark.data_dir={FIXTURES / 'cmedqa2'}")
    items = gold.load_benchmark(cfg).items
    assert [(i.question, i.answer) for i in items] == [
        ("孩子发烧三天了怎么办？", "建议及时就医，查血常规，多喝水。"),
        ("高血压患者可以喝咖啡吗？", "少量饮用一般没有问题，但应监测血压。"),
        ("牙龈出血是什么原因？", "可能是牙周炎，建议口腔科检查。"),
    ]


def test_webmedqa_raw_reader_takes_positive_answers(compose) -> None:
    cfg = _bench(
        compose,
        "webmedqa",
        "benchmark.reader=webmedqa",
        f"benchmark.data_dir={FIXTURES / 'webmedqa'}",
        "benchmark.files.test=medQA.test.txt",
    )
    items = gold.load_benchmark(cfg).items
    assert [i.answer for i in items] == [
        "您还是需要慢慢调养的，平时要多吃新鲜果蔬。",
        "先冷敷，抬高患肢，必要时拍片检查。",
    ]


def test_icliniq_raw_reader(compose) -> None:
    cfg = _bench(
        compose,
        "icliniq",
        "benchmark.reader=icliniq",
        f"benchmark.data_dir={FIXTURES / 'icliniq'}",
        "benchmark.files.test=iCliniq.json",
        "benchmark.limit=1",
    )
    (item,) = gold.load_benchmark(cfg).items
    assert item.question.startswith("Hi doctor, I have had a dry cough")
    assert item.answer.startswith("Hi. A dry cough")


def test_bc5cdr_auto_falls_back_to_pubtator_and_joins_only_present_splits(
    compose, tmp_path: Path
) -> None:
    import shutil

    shutil.copy(ROOT / "samples/benchmarks/bc5cdr/CDR_TestSet.PubTator.txt", tmp_path)
    cfg = _bench(compose, "bc5cdr", f"benchmark.data_dir={tmp_path}")
    assert gold.available_splits(cfg) == ["test"]
    assert gold.split_path(cfg, "test").name == "CDR_TestSet.PubTator.txt"
    with pytest.raises(BioqwenError, match=r"gold file not found: .*CDR_TrainingSet\.PubTator"):
        gold.load_benchmark(cfg)  # evaluation reads the configured splits, all of them
