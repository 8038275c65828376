"""Readers of the tabular QA corpora: webMedQA (tab-separated) and cMedQA2 (CSV files).

Everything read is accounted for: webMedQA's negative pairs, cMedQA2 answers outside the
chosen candidates split, candidates whose answer is missing and repeated question ids come
out as counted `Unused` items, not silent skips.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from bioqwen.data.records import (
    Item,
    LineError,
    SourceSpec,
    Unused,
    crlf_to_lf,
    fail,
    files_of,
    lines_of,
    make_record,
)
from bioqwen.errors import BioqwenError

# Answers and questions may exceed the csv module's default 128 KiB field limit only in
# pathological files, but the limit must never truncate silently.
csv.field_size_limit(1 << 30)


def read_webmedqa(spec: SourceSpec) -> Iterator[Item]:
    """webMedQA tab-separated ID, label, category, question, answer; positive answers become
    records, the 4 negatives per question are counted as `negative_pair`."""
    task = spec.task or "qa"
    for path, rel in files_of(spec.path, (".txt", ".tsv")):
        for number, text in lines_of(path):
            rid = f"{spec.name}:{rel}:{number}" if rel else f"{spec.name}:{number}"
            try:
                if isinstance(text, LineError):
                    raise text
                fields = text.rstrip("\r\n").split("\t")
                if len(fields) < 5:
                    raise LineError(
                        "missing_field",
                        f"expected 5 tab-separated fields (ID, label, category, question, "
                        f"answer), got {len(fields)}",
                    )
                qid, label, category, question = fields[:4]
                answer = "\t".join(fields[4:])  # a tab inside the answer is the answer's
                if label.strip() != "1":
                    yield Unused(rid, task, "negative_pair")  # an answer to another question
                    continue
                meta = {"question_id": qid, "department": category}
                yield make_record(rid, spec.name, task, question, answer, spec.lang, meta)
            except LineError as err:
                yield fail(spec, rid, f"{path}:{number}", err)


def csv_rows(
    spec: SourceSpec, path: Path, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str] | LineError]]:
    """Rows of a UTF-8 CSV with a header, as (line number, row) or (line, LineError)."""
    bad: list[tuple[int, LineError]] = []
    if not path.is_file():
        raise BioqwenError(f"{path} does not exist (source {spec.name!r})")

    def decoded() -> Iterator[str]:
        # Blank lines are kept: a quoted CSV field may span lines.
        for number, text in lines_of(path, skip_blank=False):
            if isinstance(text, LineError):
                bad.append((number, text))
                continue
            yield text

    reader = csv.DictReader(decoded())
    header = reader.fieldnames or []
    missing = [key for key in required if key not in header]
    if missing:
        raise BioqwenError(f"{path}:1: CSV header lacks column(s) {missing}; found {header}")
    for row in reader:
        while bad:
            yield bad.pop(0)
        if None in row.values() or None in row:
            yield reader.line_num, LineError("missing_field", "wrong number of CSV fields")
            continue
        yield reader.line_num, {k: crlf_to_lf(v) for k, v in row.items()}
    while bad:
        yield bad.pop(0)


def _questions(spec: SourceSpec, path: Path, texts: dict[str, str]) -> Iterator[Item]:
    """Fill `texts` (question_id -> content); a repeated id keeps its first text, counted."""
    for number, row in csv_rows(spec, path, ("question_id", "content")):
        rid = f"{spec.name}:question:{number}"
        if isinstance(row, LineError):
            yield fail(spec, rid, f"{path}:{number}", row)
        elif row["question_id"] in texts:
            yield Unused(rid, spec.task or "qa", "duplicate_question_id")
        else:
            texts[row["question_id"]] = row["content"]


def _candidates(spec: SourceSpec, path: Path, pairs: set[tuple[str, str]]) -> Iterator[Item]:
    """Fill `pairs` with the split's (question_id, positive ans_id) pairs."""
    for number, row in csv_rows(spec, path, ("question_id",)):
        if isinstance(row, LineError):
            yield fail(spec, f"{spec.name}:cand:{number}", f"{path}:{number}", row)
        elif "pos_ans_id" in row:
            pairs.add((row["question_id"], row["pos_ans_id"]))
        elif row.get("label") == "1":
            pairs.add((row["question_id"], row["ans_id"]))


def read_cmedqa2(spec: SourceSpec) -> Iterator[Item]:
    """cMedQA2: question.csv + answer.csv joined on question_id, restricted to a candidates split.

    Candidate files are either `question_id,pos_ans_id,neg_ans_id` (train) or
    `question_id,ans_id,cnt,label` (dev/test; label 1 = a correct answer). One record per
    (question, positive answer), id `<source>:<question_id>:<ans_id>`.
    """
    task = spec.task or "qa"
    questions_file = spec.path / spec.options.get("questions", "question.csv")
    answers_file = spec.path / spec.options.get("answers", "answer.csv")
    questions: dict[str, str] = {}
    yield from _questions(spec, questions_file, questions)
    pairs: set[tuple[str, str]] | None = None
    if spec.options.get("candidates"):
        pairs = set()
        yield from _candidates(spec, spec.path / spec.options["candidates"], pairs)
    seen: set[tuple[str, str]] = set()  # ids come from the file here, not from line numbers
    for number, row in csv_rows(spec, answers_file, ("ans_id", "question_id", "content")):
        where = f"{answers_file}:{number}"
        if isinstance(row, LineError):
            yield fail(spec, f"{spec.name}:answer:{number}", where, row)
            continue
        qid, aid = row["question_id"], row["ans_id"]
        if pairs is not None and (qid, aid) not in pairs:
            yield Unused(f"{spec.name}:answer:{number}", task, "not_in_split")
            continue
        rid = f"{spec.name}:{qid}:{aid}"
        try:
            if (qid, aid) in seen:
                rid = f"{spec.name}:answer:{number}"
                raise LineError("duplicate_id", f"answer {aid} of question {qid} appears twice")
            seen.add((qid, aid))
            if qid not in questions:
                raise LineError("missing_field", f"question_id {qid} not in {questions_file.name}")
            meta = {"question_id": qid, "ans_id": aid}
            yield make_record(rid, spec.name, task, questions[qid], row["content"], spec.lang, meta)
        except LineError as err:
            yield fail(spec, rid, where, err)
    for qid, aid in sorted((pairs or set()) - seen):
        yield Unused(f"{spec.name}:{qid}:{aid}", task, "answer_missing")
