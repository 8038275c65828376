"""End-to-end `prepare` throughput (records/s) with num_proc 1 and 2, extrapolated to the paper.

Builds a stage-2 mix in the original formats under a temporary data.root, in the proportions of
the paper's Table 1 (Taiyi NER/RE/MT 19.5 %, MedChatZH 76.1 %, COIG-CQIA 4.5 %, plus the
self-cognition file), from the shipped samples made unique per record, with reward scores that
keep about a quarter of the QA. Runs the real pipeline (fresh cache each time) and
extrapolates to the paper's 1,003,891 raw records; the ~3.6 M Taiyi lines of other categories,
which are only dropped, are timed apart (full JSON parse against the category pre-check of
their raw bytes) and added. Target: under 4 minutes.
num_proc spreads only the tokenization stage (length filters, truncation, counts) over worker
processes; reading, cleaning and de-duplication stay in the main process, so on 2 busy cores
the gain is small.

    .venv/bin/python benchmarks/prepare_throughput.py [--records 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from hydra import compose

import bioqwen.config  # noqa: F401  (registers the schemas)
from bioqwen.checkout import ROOT, hydra_context
from bioqwen.data.pipeline import prepare

SAMPLES = ROOT / "samples"
PAPER_RAW = 1_003_891
TAIYI_OTHER_LINES = 3_829_368 - 195_568  # full Taiyi file minus the NER/RE/MT rows
SHARES = {"taiyi": 195_568, "medchatzh": 763_629, "coig_cqia": 44_694}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def build_mix(root: Path, records: int, seed: int = 0) -> dict[str, int]:
    """Write taiyi/, medchatzh/ (+ scores), coig_cqia/ and self_cognition.json under root."""
    rng = random.Random(seed)
    total = sum(SHARES.values())
    counts = {name: round(records * share / total) for name, share in SHARES.items()}
    taiyi = [
        r
        for r in _jsonl(SAMPLES / "taiyi" / "Taiyi_Instruction_Data_Example.jsonl")
        if r["category"] in ("NER", "RE", "MT-zh2en", "MT-en2zh")
    ]
    out = root / "taiyi" / "Taiyi_Instruction_Data_001.jsonl"
    out.parent.mkdir(parents=True)
    with open(out, "w", encoding="utf-8") as handle:
        for i in range(counts["taiyi"]):
            row = json.loads(json.dumps(taiyi[i % len(taiyi)]))
            turn = row["conversation"][0]
            turn["human"] = f"[{i}] {turn['human']}"
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    qa = _jsonl(SAMPLES / "medchatzh" / "MedChatZH_train.sample.jsonl")[:20]
    out = root / "medchatzh" / "MedChatZH_train.json"
    out.parent.mkdir(parents=True)
    with (
        open(out, "w", encoding="utf-8") as handle,
        open(root / "medchatzh" / "scores.jsonl", "w", encoding="utf-8") as scores,
    ):
        for i in range(counts["medchatzh"]):
            row = dict(qa[i % len(qa)])
            row["instruction"] = f"{row['instruction']}（病例{i}）"
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            # The paper kept 188,335 of 727,633 scored rows: about the top quarter.
            score = rng.gauss(2.2, 0.9)
            scores.write(json.dumps({"id": f"medchatzh:{i + 1}", "score": score}) + "\n")
    coig = [
        row for path in sorted((SAMPLES / "coig_cqia").rglob("*.jsonl")) for row in _jsonl(path)
    ]
    out = root / "coig_cqia" / "COIG-CQIA-full.jsonl"
    out.parent.mkdir(parents=True)
    with open(out, "w", encoding="utf-8") as handle:
        for i in range(counts["coig_cqia"]):
            row = dict(coig[i % len(coig)])
            row["instruction"] = f"({i}) {row['instruction']}"
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    shutil.copy(SAMPLES / "self_cognition" / "self_cognition.json", root / "self_cognition.json")
    return counts


def build_other_taiyi(path: Path, lines: int) -> None:
    """Taiyi lines of categories the filter drops (TC), for the drop rate; one NER line ends
    the file (a source without any record is an error)."""
    sample = _jsonl(SAMPLES / "taiyi" / "Taiyi_Instruction_Data_Example.jsonl")
    other = [r for r in sample if r["category"] == "TC"]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(lines):
            row = json.loads(json.dumps(other[i % len(other)]))
            row["conversation"][0]["human"] = f"[{i}] {row['conversation'][0]['human']}"
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        ner = next(r for r in sample if r["category"] == "NER")
        handle.write(json.dumps(ner, ensure_ascii=False) + "\n")


def _prepare_seconds(root: Path, path: Path, precheck: bool, attempt: int) -> float:
    with hydra_context():
        cfg = compose(
            "prepare",
            overrides=[
                "tracking=disabled",
                "data/mix=stage1",
                "data.mix.validation_size=0",
                f"data.mix.sources.taiyi.path={path}",
                f"data.mix.sources.taiyi.options.precheck={str(precheck).lower()}",
                # A fresh cache each time: a cached mix would be reused, not prepared.
                f"data.cache_dir={root / f'cache-{path.stem}-{precheck}-{attempt}'}",
            ],
        )
    start = time.perf_counter()
    prepare(cfg.data, seed=42)
    return time.perf_counter() - start


def drop_rate(root: Path, lines: int, precheck: bool) -> float:
    """Lines/s of dropping out-of-scope Taiyi lines (with or without the pre-check): the time
    of `lines` lines minus that of a tenth of them, so the fixed cost of a prepare (tokenizer
    load, hashing, saving) is not spread over the lines."""
    seconds = []
    for count in (lines // 10, lines):
        path = root / "other" / f"other-{count}.jsonl"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            build_other_taiyi(path, count)
        # Best of three: the difference is small next to a prepare's fixed cost.
        seconds.append(min(_prepare_seconds(root, path, precheck, n) for n in range(3)))
    if seconds[1] <= seconds[0]:
        raise SystemExit(f"--other-taiyi {lines}: too few lines to time the drop; use more")
    return (lines - lines // 10) / (seconds[1] - seconds[0])


def run(root: Path, num_proc: int, tag: str) -> tuple[float, dict]:
    """Prepare the stage-2 mix under root into a fresh cache; (seconds, card)."""
    overrides = [
        "tracking=disabled",
        "data/mix=stage2",
        f"data.root={root}",
        f"data.cache_dir={root / f'cache-{tag}'}",
        f"data.num_proc={num_proc}",
    ]
    with hydra_context():
        cfg = compose("prepare", overrides=overrides)
    start = time.perf_counter()
    prepared = prepare(cfg.data, seed=42)
    return time.perf_counter() - start, prepared.card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--other-taiyi", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bioqwen-bench-") as tmp:
        root = Path(tmp)
        counts = build_mix(root, args.records)
        raw = sum(counts.values()) + 8
        print(f"mix: {counts} + 8 self-cognition = {raw} raw records (stage2 formats)")
        # Alternate the settings and keep each one's best time: this machine has slow spells.
        results: dict[int, float] = {}
        for attempt in range(args.repeats):
            for num_proc in (1, 2):
                seconds, card = run(root, num_proc, f"{num_proc}-{attempt}")
                results[num_proc] = min(seconds, results.get(num_proc, seconds))
                print(
                    f"num_proc={num_proc}: {seconds:6.1f} s, {raw / seconds:7.0f} records/s, "
                    f"{card['total']['cleaned']} kept, {card['total']['tokens'] / 1e6:.2f} M tokens"
                )
        # Drop rate of the Taiyi categories outside NER/RE/MT: full JSON parse (baseline)
        # against the raw-bytes category pre-check, measured in this run.
        parsed = drop_rate(root, args.other_taiyi, precheck=False)
        checked = drop_rate(root, args.other_taiyi, precheck=True)
        print(
            f"Taiyi lines of other categories: {parsed:7.0f} lines/s parsed in full, "
            f"{checked:7.0f} lines/s with the pre-check ({checked / parsed:.2f}x)"
        )
        best = min(results, key=lambda n: results[n])
        rate = raw / results[best]
        for label, lines_per_s in (("full parse", parsed), ("pre-check", checked)):
            full = PAPER_RAW / rate + TAIYI_OTHER_LINES / lines_per_s
            print(
                f"extrapolated paper-scale prepare ({PAPER_RAW:,} raw + {TAIYI_OTHER_LINES:,} "
                f"other Taiyi lines, num_proc={best}, {label}): {full / 60:.1f} min "
                "(target < 4 min)"
            )
        print(f"speed-up num_proc 2 vs 1: {results[1] / results[2]:.2f}x")


if __name__ == "__main__":
    main()
