"""The paper's questions: an authors' prediction file as the item list, checked against gold.

`benchmark.questions_from=<an authors' prediction CSV>` makes `evaluate` ask exactly that file's
questions (QA) or documents (NER), in its order, so a new model is compared with the paper on
the paper's 50 questions. A QA file's `answer` column must be one of the gold's reference
answers for its question whenever the benchmark's gold files are there (compared with runs of
whitespace folded, as CSV exports reflow them); otherwise the file's answers are the
references. NER prompts are joined to the gold documents by their stripped text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bioqwen.checkout import in_checkout
from bioqwen.data.sources import SourceSpec, read_source
from bioqwen.errors import BioqwenError
from bioqwen.eval import gold

# (line number, question, answer) of one row of a QA predictions file.
QaRow = tuple[int, str, str]


def _fold(text: str) -> str:
    return " ".join(text.split())


def _excerpt(text: str) -> str:
    text = _fold(text)
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def gold_index(cfg: Mapping[str, Any]) -> dict[str, gold.NerDocument]:
    """Gold NER documents of every split present in data_dir, by stripped prompt text."""
    splits = gold.available_splits(cfg)
    bench = gold.load_benchmark({**cfg, "limit": None}, splits)
    index: dict[str, gold.NerDocument] = {}
    for doc in bench.items:
        for mode in ("abstract", "title_abstract"):
            index.setdefault(doc.input_text(mode).strip(), doc)
    return index


def qa_gold_files(cfg: Mapping[str, Any]) -> list[Path]:
    """The QA gold files present in data_dir (none: the answers cannot be checked)."""
    splits = [s for s in cfg["files"] if s not in ("questions", "answers")]
    present = [s for s in splits if gold.split_path(cfg, s).exists()]
    if cfg["reader"] == "cmedqa2" and present:
        return [gold.split_path(cfg, s) for s in present] + [
            gold.split_path(cfg, s) for s in ("questions", "answers")
        ]
    return [gold.split_path(cfg, s) for s in present]


def _pairs(cfg: Mapping[str, Any], split: str) -> Iterator[tuple[str, str]]:
    """Every (question, reference answer) of one split: all positive answers of a question."""
    path = gold.split_path(cfg, split)
    reader = str(cfg["reader"])
    if reader == "paper_csv":
        yield from ((i.question, i.answer) for i in gold.read_paper_csv(path, split))
        return
    options = gold._source_options(cfg, split)  # the file names gold reads cMedQA2 with
    source = path.parent if reader == "cmedqa2" else path
    for record in read_source(SourceSpec(str(cfg["name"]), source, "qa", None, options), reader):
        assert isinstance(record, dict)  # on_error=raise: bad lines raise, never come back
        yield record["messages"][0]["content"], record["messages"][1]["content"]


def check_answers(rows: Sequence[QaRow], cfg: Mapping[str, Any], source: str | Path) -> bool:
    """Check each row's answer against the gold when the gold is there; False when it is not.

    A question missing from the gold, or an answer that is none of its gold answers, is an
    error naming the file and row.
    """
    if not qa_gold_files(cfg):
        return False
    references: dict[str, set[str]] = {}
    splits = [s for s in cfg["files"] if s not in ("questions", "answers")]
    for split in splits:
        if gold.split_path(cfg, split).exists():
            for question, answer in _pairs(cfg, split):
                references.setdefault(_fold(question), set()).add(_fold(answer))
    where = f"benchmark {cfg['name']!r} ({in_checkout(cfg['data_dir'])})"
    for line, question, answer in rows:
        answers = references.get(_fold(question))
        if answers is None:
            raise BioqwenError(
                f"{source}:{line}: question is not in the gold of {where}: {_excerpt(question)}"
            )
        if _fold(answer) not in answers:
            raise BioqwenError(
                f"{source}:{line}: answer column differs from the gold answer of {where} "
                f"for this question: file has {_excerpt(answer)}, gold has "
                f"{_excerpt(sorted(answers)[0])}"
            )
    return True


def select(cfg: Mapping[str, Any]) -> gold.Benchmark:
    """The benchmark restricted to the questions (or documents) of `questions_from`, in order."""
    path = in_checkout(str(cfg["questions_from"]))
    if not path.is_file():
        raise BioqwenError(f"benchmark.questions_from: file not found: {path}")
    items: list[Any] = []
    if cfg["task"] == "qa":
        rows = [(n, r["prompt"], r["answer"]) for n, r in gold.csv_rows(path, ("prompt", "answer"))]
        check_answers(rows, cfg, path)
        items = [gold.QaItem(f"{path.stem}:{n}", "questions_from", q, a) for n, q, a in rows]
    else:
        index = gold_index(cfg)
        for line, row in gold.csv_rows(path, ("prompt",)):
            document = index.get(row["prompt"].strip())
            if document is None:
                raise BioqwenError(
                    f"{path}:{line}: prompt has no gold document in benchmark "
                    f"{cfg['name']!r}: {_excerpt(row['prompt'])}"
                )
            items.append(document)
    if not items:
        raise BioqwenError(f"benchmark.questions_from: {path} has no rows")
    if cfg["limit"] is not None:
        items = items[: int(cfg["limit"])]
    return gold.Benchmark(
        str(cfg["name"]), str(cfg["task"]), str(cfg["lang"]), gold.entity_types(cfg), items
    )
