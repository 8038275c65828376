"""The bad-input table (issue 8): one case per line across prepare, train, evaluate and score.

Each bad input must end the job with exit status 2 and ONE `bioqwen: error:` line naming the
file and line/row/record or the config key, and leave nothing half-written (the run directory
holds only Hydra's own files; no cache entry). The must-handle inputs (BOM, CRLF, empty
responses, empty answers) must succeed. Jobs run in-process through `bioqwen.cli.main`, as the
console script runs them, so the table stays fast.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bioqwen import cli, runs
from bioqwen.jobs.common import job_main
from tests.conftest import FIXTURES, ROOT
from tests.eval.known_answers import WEBMEDQA, webmedqa_rows, write_csv

NCBI = ROOT / "samples/benchmarks/ncbi"
NCBI_PREDICTIONS = ROOT / "samples/benchmarks/ncbi_predictions/taiyi-ner-ncbi-disease.head20.csv"
GOOD = {"instruction": "头痛怎么办？", "input": "", "output": "多休息。"}


def _lines(path: Path, *lines: bytes | dict) -> Path:
    path.write_bytes(
        b"".join(
            (x if isinstance(x, bytes) else json.dumps(x, ensure_ascii=False).encode()) + b"\n"
            for x in lines
        )
    )
    return path


def _instruction(tmp: Path, *lines: bytes | dict) -> tuple[list[str], Path]:
    path = _lines(tmp / "qa.jsonl", GOOD, *lines)
    return [
        "data.mix.sources.taiyi.reader=instruction",
        f"data.mix.sources.taiyi.path={path}",
    ], path


def _ncbi_copy(tmp: Path, edit: Callable[[str], str]) -> tuple[list[str], Path]:
    folder = tmp / "ncbi"
    shutil.copytree(NCBI, folder)
    path = folder / "NCBItestset_corpus.txt"
    path.write_text(edit(path.read_text("utf-8")), "utf-8")
    return [f"benchmark.data_dir={folder}", "benchmark.splits=[test]", "benchmark.limit=1"], path


def _cmeee(tmp: Path, records: list) -> tuple[list[str], Path]:
    path = tmp / "CMeEE_dev.json"
    path.write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    return [f"benchmark.data_dir={tmp}"], path


def _webmedqa(tmp: Path, *lines: str) -> tuple[list[str], Path]:
    path = _lines(tmp / "m.txt", *(line.encode() for line in lines))
    return ["data.mix.sources.taiyi.reader=webmedqa", f"data.mix.sources.taiyi.path={path}"], path


def _edited_answers(path: Path) -> Path:
    rows = [[prompt, "x", response] for prompt, _, response in webmedqa_rows()]
    return write_csv(path, ["prompt", "answer", "response"], rows)


def _model_dir(tmp: Path, name: str, text: str) -> Path:
    folder = tmp / "model"
    folder.mkdir()
    (folder / name).write_text(text, "utf-8")
    return folder


def _dataset_dir(tmp: Path) -> Path:
    (tmp / "prepared").mkdir()
    return tmp / "prepared"


def _predictions(tmp: Path, name: str, data: bytes) -> tuple[list[str], Path]:
    (tmp / name).write_bytes(data)
    return [f"predictions={tmp / name}"], tmp / name


def _csv_text() -> str:
    return WEBMEDQA.read_text("utf-8-sig")


def _scores(tmp: Path, line: str) -> tuple[list[str], Path]:
    """The sample mix with a reward-score file whose second line is `line`."""
    path = tmp / "scores.jsonl"
    path.write_text('{"id": "medchatzh:1", "score": 3.1}\n' + line + "\n", "utf-8")
    return [f"data.mix.sources.medchatzh.score_file={path}"], f"{path}:2"


def _weights(folder: Path, config: dict, size: int | None = None) -> Path:
    """A model directory: config.json and one safetensors file, cut to `size` bytes if given."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), "utf-8")
    weights = folder / "model.safetensors"
    save_file({"w": torch.zeros(64, 64)}, str(weights))
    if size is not None:
        with open(weights, "r+b") as handle:
            handle.truncate(size)
    return weights


def _stage1_run(tmp: Path) -> tuple[list[str], Path]:
    """A finished-looking stage-1 run whose adapter weights are 0 bytes (a disk that filled)."""
    parent = tmp / "stage1"
    (parent / "adapter").mkdir(parents=True)
    lineage = {"job": "train", "adapter_base": "base", "model": {"name": "tiny"}}
    (parent / "lineage.json").write_text(json.dumps(lineage), "utf-8")
    (parent / "adapter" / "adapter_config.json").write_text('{"base_model_name_or_path": "b"}')
    (parent / "adapter" / "adapter_model.safetensors").write_bytes(b"")
    return [f"stage.init_from={parent}"], parent / "adapter" / "adapter_model.safetensors"


PREPARE = ["prepare", "data/mix=stage1"]
EVALUATE = ["evaluate", "model=tiny"]
# (id, job + fixed overrides, builder(tmp) -> (overrides, where the message must point)).
# `where` is a path (the message names it) or a config key / phrase.
CASES: list[tuple[str, list[str], Callable[[Path], tuple[list[str], object]]]] = [
    ("malformed-json", PREPARE, lambda t: _instruction(t, b'{"instruction": "q"')),
    ("invalid-utf8", PREPARE, lambda t: _instruction(t, b'{"instruction": "\xff"}')),
    ("wrong-type", PREPARE, lambda t: _instruction(t, {**GOOD, "output": 3})),
    ("missing-field", PREPARE, lambda t: _instruction(t, {"instruction": "q", "input": ""})),
    ("not-an-object", PREPARE, lambda t: _instruction(t, b"[1, 2]")),
    (
        "empty-file",
        PREPARE,
        lambda t: (
            [
                "data.mix.sources.taiyi.reader=instruction",
                f"data.mix.sources.taiyi.path={_lines(t / 'empty.jsonl', b'')}",
            ],
            t / "empty.jsonl",
        ),
    ),
    (
        "missing-source",
        PREPARE,
        lambda t: (
            [f"data.mix.sources.taiyi.path={t / 'none.jsonl'}"],
            "data.mix.sources.taiyi.path",
        ),
    ),
    (
        "broken-json-array",
        PREPARE,
        lambda t: (
            [
                "data.mix.sources.taiyi.reader=icliniq",
                f"data.mix.sources.taiyi.path={t / 'a.json'}",
            ],
            (t / "a.json").write_text('[{"input": "q", "answer_icliniq": "a"},\n{"input": ]')
            and t / "a.json",
        ),
    ),
    (
        "short-webmedqa-line",
        PREPARE,
        lambda t: _webmedqa(t, "1\t1\t内\t问\t答", "2\t1"),
    ),
    (
        "missing-gold-dir",
        EVALUATE,
        lambda t: (["benchmark=cmedqa2", f"benchmark.data_dir={t}"], "gold file not found"),
    ),
    (
        "bad-offsets",
        [*EVALUATE, "benchmark=ncbi"],
        lambda t: _ncbi_copy(
            t, lambda s: s.replace("\t23\t39\tcopper toxicosis", "\t30\t46\tcopper toxicosis", 1)
        ),
    ),
    (
        "annotation-outside-document",
        [*EVALUATE, "benchmark=ncbi"],
        lambda t: _ncbi_copy(t, lambda s: "9949209\t23\t39\tcopper\tModifier\tX\n" + s),
    ),
    (
        "non-integer-offsets",
        [*EVALUATE, "benchmark=ncbi"],
        lambda t: _ncbi_copy(t, lambda s: s.replace("\t23\t39\t", "\tx\t39\t", 1)),
    ),
    (
        "cmeee-bad-span",
        [*EVALUATE, "benchmark=cmeee"],
        lambda t: _cmeee(
            t,
            [
                {
                    "text": "患者有糖尿病",
                    "entities": [{"start_idx": 0, "end_idx": 2, "type": "dis", "entity": "糖尿病"}],
                }
            ],
        ),
    ),
    (
        "cmeee-without-gold",
        [*EVALUATE, "benchmark=cmeee"],
        lambda t: _cmeee(t, [{"text": "患者有糖尿病"}]),
    ),
    (
        "malformed-bioc",
        [*EVALUATE, "benchmark=bc5cdr", "benchmark.splits=[test]", "benchmark.format=bioc"],
        lambda t: (
            [f"benchmark.data_dir={t}"],
            (t / "CDR_TestSet.BioC.xml").write_text("<collection><document>")
            and t / "CDR_TestSet.BioC.xml",
        ),
    ),
    (
        "model-dir-without-manifest",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"model.path={_model_dir(t, 'README', 'x')}"],
            "no config.json or adapter_config.json",
        ),
    ),
    (
        "corrupt-adapter",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"model.path={_model_dir(t, 'adapter_config.json', '{broken')}"],
            t / "model" / "adapter_config.json",
        ),
    ),
    (
        "adapter-without-base",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"model.path={_model_dir(t, 'adapter_config.json', '{}')}"],
            "base_model_name_or_path",
        ),
    ),
    (
        "missing-predictions",
        ["score", "benchmark=webmedqa"],
        lambda t: ([f"predictions={t / 'none.csv'}"], "predictions file not found"),
    ),
    (
        "wrong-columns",
        ["score", "benchmark=webmedqa"],
        lambda t: (
            [f"predictions={FIXTURES / 'eval/qa_predictions_bad_columns.csv'}"],
            FIXTURES / "eval/qa_predictions_bad_columns.csv",
        ),
    ),
    (
        "header-only",
        ["score", "benchmark=webmedqa"],
        lambda t: (
            [f"predictions={write_csv(t / 'p.csv', ['prompt', 'answer', 'response'], [])}"],
            t / "p.csv",
        ),
    ),
    (
        "prompt-without-gold",
        ["score", "benchmark=ncbi"],
        lambda t: (
            [f"predictions={FIXTURES / 'eval/ner_predictions_unmatched.csv'}"],
            "ner_predictions_unmatched.csv:2",
        ),
    ),
    (
        "file-of-another-benchmark",
        ["score", "benchmark=icliniq"],
        lambda t: ([f"predictions={WEBMEDQA}"], "BioQwen-1.8B-qa-webmedqa.csv:2"),
    ),
    (
        "edited-answer",
        ["score", "benchmark=webmedqa"],
        lambda t: ([f"predictions={_edited_answers(t / 'e.csv')}"], "e.csv:2"),
    ),
    (
        "missing-ner-gold",
        ["score", "benchmark=ncbi"],
        lambda t: ([f"predictions={NCBI_PREDICTIONS}", f"benchmark.data_dir={t}"], "no gold file"),
    ),
    (
        "bad-bootstrap",
        ["score", "benchmark=webmedqa"],
        # resamples=0 turns intervals off (conf/bootstrap/default.yaml); a coverage of 1.5 is wrong.
        lambda t: ([f"predictions={WEBMEDQA}", "bootstrap.confidence=1.5"], "bootstrap.confidence"),
    ),
    (
        "train-data-not-prepared",
        ["train", "model=tiny"],
        lambda t: ([f"data_dir={_dataset_dir(t)}"], "no saved DatasetDict"),
    ),
]

QWEN2 = {"model_type": "qwen2"}
# Issue 21: the tracebacks that were left, and numbers that were silently wrong.
CASES += [
    ("deeply-nested-json", PREPARE, lambda t: _instruction(t, b"[" * 100_000 + b"]" * 100_000)),
    (
        "lone-surrogate",
        PREPARE,
        lambda t: _instruction(t, b'{"instruction": "q\\ud800", "input": "", "output": "a"}'),
    ),
    (
        "utf16-predictions",
        ["score", "benchmark=webmedqa"],
        lambda t: _predictions(t, "u16.csv", _csv_text().encode("utf-16")),
    ),
    (
        "latin1-predictions",
        ["score", "benchmark=webmedqa"],
        lambda t: _predictions(t, "l1.csv", b"prompt,answer,response\nq,a,caf\xe9\n"),
    ),
    (
        "repeated-column",
        ["score", "benchmark=webmedqa"],
        lambda t: _predictions(
            t, "r.csv", _csv_text().replace("response", "response,response", 1).encode()
        ),
    ),
    (
        "gold-is-a-directory",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"benchmark.data_dir={t}"],
            (t / WEBMEDQA.name).mkdir() or t / WEBMEDQA.name,
        ),
    ),
    (
        "empty-gold-file",
        [*EVALUATE, "benchmark=ncbi", "benchmark.splits=[test]"],
        lambda t: (
            [f"benchmark.data_dir={t}"],
            (t / "NCBItestset_corpus.txt").write_bytes(b"") or t / "NCBItestset_corpus.txt",
        ),
    ),
    (
        "bioc-entity-declaration",
        [*EVALUATE, "benchmark=bc5cdr", "benchmark.splits=[test]", "benchmark.format=bioc"],
        lambda t: (
            [f"benchmark.data_dir={t}"],
            (t / "CDR_TestSet.BioC.xml").write_text(
                '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaaaaaaaa">]>'
                "<collection><document><id>&a;</id></document></collection>"
            )
            and t / "CDR_TestSet.BioC.xml",
        ),
    ),
    (
        "nan-score",
        ["prepare", "data/mix=sample"],
        lambda t: _scores(t, '{"id": "m:2", "score": NaN}'),
    ),
    (
        "infinite-score",
        ["prepare", "data/mix=sample"],
        lambda t: _scores(t, '{"id": "m:2", "score": Infinity}'),
    ),
    (
        "boolean-score",
        ["prepare", "data/mix=sample"],
        lambda t: _scores(t, '{"id": "m:2", "score": true}'),
    ),
    (
        "repeated-score-id",
        ["prepare", "data/mix=sample"],
        lambda t: _scores(t, '{"id": "medchatzh:1", "score": 1.0}'),
    ),
    (
        "truncated-weights",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: ([f"model.path={t / 'm'}"], _weights(t / "m", QWEN2, size=100)),
    ),
    (
        "unknown-model-type",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"model.path={t / 'm'}"],
            _weights(t / "m", {"model_type": "qwen9"}).with_name("config.json"),
        ),
    ),
    (
        "remote-code-not-trusted",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"model.path={t / 'm'}"],
            _weights(t / "m", {"model_type": "evil", "auto_map": {"AutoConfig": "e.C"}})
            and "model.trust_remote_code=true",
        ),
    ),
    (
        "pickled-weights",
        [*EVALUATE, "benchmark=webmedqa"],
        lambda t: (
            [f"model.path={t / 'm'}"],
            (_weights(t / "m", QWEN2).rename(t / "m" / "pytorch_model.bin"))
            and "only pickled weights (pytorch_model.bin)",
        ),
    ),
    (
        "chat-truncated-weights",
        ["chat", "prompts=[hi]"],
        lambda t: ([f"models=[{t / 'm'}]"], _weights(t / "m", QWEN2, size=0)),
    ),
    (
        "chat-unknown-model-type",
        ["chat", "prompts=[hi]"],
        lambda t: (
            [f"models=[{t / 'm'}]"],
            _weights(t / "m", {"model_type": "qwen9"}).with_name("config.json"),
        ),
    ),
    ("stage2-empty-adapter", ["train", "model=tiny", "stage=stage2"], _stage1_run),
    (
        "secret-on-the-command-line",
        ["score", "benchmark=webmedqa", f"predictions={WEBMEDQA}"],
        lambda t: (["+tracking.api_key=s3cr3t-value"], "set WANDB_API_KEY in the environment"),
    ),
]

# Config mistakes: (id, command line, the key or phrase the message names).
# Data settings a prepare run rejects, on an otherwise good source: (id, override, named).
DATA_CASES = [
    ("bad-on-error", "data.on_error=maybe", "data.on_error=maybe: invalid value 'maybe'"),
    ("tiny-max-tokens", "data.max_tokens=4", "data.max_tokens=4"),
    ("unknown-tokenizer", "data.tokenizer=qwen9", "data.tokenizer=qwen9: invalid value 'qwen9'"),
    ("bad-language-text", "data.language.text=answer", "data.language.text=answer: invalid"),
]
KEY_CASES = [
    ("unknown-split", "evaluate benchmark=ncbi benchmark.splits=[valid]", "split 'valid'"),
    (
        "unknown-gold-reader",
        "evaluate benchmark=ncbi benchmark.reader=nope",
        "reader=nope: invalid",
    ),
    ("bad-template", "evaluate benchmark.prompt_template='{question}'", "prompt_template"),
    ("bad-separators", "evaluate benchmark.entity_separators=word", "separators=word: invalid"),
    ("unknown-backend", "evaluate generation.backend=tpu", "generation.backend=tpu: invalid"),
    ("unknown-reader", "prepare data/mix=stage1 data.mix.sources.taiyi.reader=nope", "'nope'"),
    ("missing-train-data", "train model=tiny data_dir=/nonexistent/data", "data_dir=/nonexistent"),
    (
        "missing-stage1-run",
        "train model=tiny stage=stage2 stage.init_from=/nonexistent",
        "init_from",
    ),
]

CASES += [(name, cmd.split(), lambda t, w=where: ([], w)) for name, cmd, where in KEY_CASES]
CASES += [
    (name, PREPARE, lambda t, o=override, w=where: ([*_instruction(t)[0], o], w))
    for name, override, where in DATA_CASES
]


def _torn_record(tmp: Path) -> tuple[list[str], Path]:
    record = tmp / "exp" / "demo" / "experiment.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"experiment": {"name": "demo"}, "steps": {"prepare": {"sta')
    return [f"pipeline.root={tmp / 'exp'}"], record


# Experiments (issue 21): a torn experiment.json, a step name that is not a directory name.
PIPELINE = ["pipeline", "+experiment=demo"]
CASES += [
    ("torn-experiment-record", PIPELINE, _torn_record),
    (
        "dotdot-step-name",
        PIPELINE,
        lambda t: (
            [f"pipeline.root={t / 'exp'}", "pipeline.steps=[{name:'..',job:prepare}]"],
            "step name '..'",
        ),
    ),
]


def _run(argv: list[str], run_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, f"hydra.run.dir={run_dir}", "tracking=disabled"])
        raise SystemExit(0)
    return int(exit_info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(("job", "build"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_where_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], job: list[str], build: Callable
) -> None:
    overrides, where = build(tmp_path)
    cache = tmp_path / "cache"
    status, err = _run(
        [*job, *overrides, f"data.cache_dir={cache}"]
        if job[0] in ("prepare", "train")
        else [*job, *overrides],
        tmp_path / "run",
        capsys,
    )
    errors = [line for line in err.splitlines() if line.startswith("bioqwen: error:")]
    assert status == 2 and len(errors) == 1, err[-2000:]
    assert str(where) in errors[0]
    written = (
        {p.name for p in (tmp_path / "run").iterdir()} if (tmp_path / "run").exists() else set()
    )
    assert all(name == ".hydra" or name.endswith(".log") for name in written), written
    assert not cache.exists() or not any(cache.iterdir())


def test_must_handle_inputs_succeed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # BOM + CRLF predictions with an empty response are scored; BOM + CRLF data with an
    # empty answer are prepared.
    rows = webmedqa_rows()
    rows[0][2] = ""
    plain = write_csv(tmp_path / "p.csv", ["prompt", "answer", "response"], rows)
    bom_crlf = tmp_path / "bom_crlf.csv"
    bom_crlf.write_bytes(
        b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )
    status, err = _run(
        ["score", "benchmark=webmedqa", f"predictions={bom_crlf}"], tmp_path / "s", capsys
    )
    assert status == 0, err[-2000:]
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["n_samples"] == 50
    data = tmp_path / "qa.jsonl"
    _lines(data, GOOD, {**GOOD, "instruction": "发热？", "output": "  "})
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes().replace(b"\n", b"\r\n"))
    argv = [
        *PREPARE,
        "data.mix.sources.taiyi.reader=instruction",
        f"data.mix.sources.taiyi.path={data}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.mix.validation_size=0",
    ]
    status, err = _run(argv, tmp_path / "p", capsys)
    assert status == 0, err[-2000:]
    card = json.loads((tmp_path / "p" / "data_card.json").read_text())
    assert card["sources"]["taiyi"]["kept"] == 1
    assert card["sources"]["taiyi"]["dropped"] == {"empty_answer": 1}


def test_a_full_disk_is_one_line_naming_the_file_and_nothing_half_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scores file's temporary sibling is /dev/full: its write fails with ENOSPC, as on a
    # disk that filled while the job wrote its outputs. Before: an OSError traceback, exit 1.
    real_mkstemp = runs.tempfile.mkstemp

    def full_disk(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)
        if not Path(name).name.startswith(".scores.jsonl."):
            return fd, name
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(runs.tempfile, "mkstemp", full_disk)
    run = tmp_path / "run"
    status, err = _run(["score", "benchmark=webmedqa", f"predictions={WEBMEDQA}"], run, capsys)
    errors = [line for line in err.splitlines() if line.startswith("bioqwen: error:")]
    assert status == 2 and len(errors) == 1, err[-2000:]
    assert f"{run / 'scores.jsonl'}: No space left on device" in errors[0]
    assert not [p.name for p in run.iterdir() if "scores" in p.name or p.name == "metrics.json"]


@pytest.mark.parametrize(
    "override",
    [
        "+tracking.api_key=s3cr3t-value",
        "+hf_token=s3cr3t-value",
        "hydra.job.env_set.WANDB_API_KEY=s3cr3t-value",
        "+tracking={project: p, password: s3cr3t-value}",
    ],
)
def test_a_secret_override_is_refused_before_anything_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str
) -> None:
    status, err = _run(["score", "benchmark=webmedqa", override], tmp_path / "run", capsys)
    assert status == 2 and "in the environment instead" in err
    assert "s3cr3t-value" not in err
    assert not (tmp_path / "run").exists()  # no config.yaml, no .hydra/, no log, no W&B run


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["export", "model.path=runs/x", "quant=q3_k"],
            "quant=q3_k: invalid value 'q3_k', expected one of [f16, q8_0, q4_0, q4_k_m]",
        ),
        (
            ["export", "model.path=runs/x", "quantt=q3_k"],
            "quantt=q3_k: key 'quantt' not in ExportJobConfig (append with +quantt=q3_k)",
        ),
        (
            ["train", "model=tiny", "stage.batching=packd"],
            "stage.batching=packd: invalid value 'packd', expected one of [",
        ),
        (
            ["train", "model=tiny", "stage.learnin_rate=1e-4"],
            "stage.learnin_rate=1e-4: key 'learnin_rate' not in StageConfig",
        ),
        (["train", "model=tiny", "stage.learning_rate=["], "stage.learning_rate=[: "),
        (
            ["train", "-m", "model=tiny", "stage.batching=packed,packd"],
            "stage.batching=packd: invalid value 'packd', expected one of [",
        ),
        (  # the choices a user can make, not the group's schema node
            ["evaluate", "benchmark=ncbbi"],
            "in 'evaluate': Could not find 'benchmark/ncbbi'; available: bc5cdr, cmedqa2, cmeee, "
            "icliniq, ncbi, webmedqa",
        ),
    ],
    ids=[
        "export-enum",
        "export-key",
        "train-enum",
        "train-key",
        "unparsable",
        "multirun-enum",
        "group-option",
    ],
)
def test_a_config_that_does_not_compose_is_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    sweep = tmp_path / "sweep"
    status, err = _run([*argv, f"hydra.sweep.dir={sweep}"], tmp_path / "run", capsys)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("bioqwen: error: " + line), err
    assert not (tmp_path / "run").exists()
    assert "HYDRA_FULL_ERROR" not in os.environ  # set only while Hydra composes


def test_the_job_itself_runs_without_the_entrys_hydra_full_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []

    def job(cfg: Any) -> dict[str, Any]:
        seen.append(os.environ.get("HYDRA_FULL_ERROR"))
        return {}

    argv = ["bioqwen-export", "model.path=runs/x", f"hydra.run.dir={tmp_path / 'run'}"]
    monkeypatch.setattr(sys, "argv", argv)
    job_main("export", job)()
    assert seen == [None]  # its failures are reported by Hydra as before
