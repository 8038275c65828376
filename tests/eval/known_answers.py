"""Known answers shared by the evaluation tests: the authors' released predictions and the
paper's numbers they must reproduce (issue 4)."""

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEBMEDQA = ROOT / "samples/benchmarks/webmedqa/BioQwen-1.8B-qa-webmedqa.csv"
ICLINIQ = ROOT / "samples/benchmarks/icliniq/BioQwen-1.8B-qa-icliniq.csv"

# BioQwen-1.8B on the paper's 50 webMedQA questions, x100, to 3 decimals.
WEBMEDQA_KNOWN = {
    "bleu-1": 17.054,
    "bleu-2": 9.384,
    "bleu-3": 5.135,
    "bleu-4": 2.837,
    "gleu": 6.327,
    "rouge-1": 27.755,
    "rouge-2": 7.281,
    "rouge-l": 17.976,
}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A predictions file in the authors' CSV format."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def webmedqa_rows() -> list[list[str]]:
    """The released webMedQA predictions as [prompt, answer, response] rows."""
    with open(WEBMEDQA, encoding="utf-8-sig", newline="") as handle:
        return [[r["prompt"], r["answer"], r["response"]] for r in csv.DictReader(handle)]
