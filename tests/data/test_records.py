import json
import subprocess
import sys
from pathlib import Path

import pytest

from bioqwen.data.clean import Deduplicator
from bioqwen.data.records import not_utf8
from bioqwen.data.sources import BadLine, SourceSpec, read_source
from bioqwen.errors import BioqwenError
from bioqwen.runs import parse_json

GOOD = {"instruction": "头痛怎么办？", "input": "", "output": "多休息。"}
DEEP = "[" * 100_000 + "]" * 100_000


def _read(path: Path, on_error: str = "raise") -> list:
    return list(read_source(SourceSpec("m", path, "qa", None, {}, on_error), "instruction"))


def test_nesting_too_deep_is_a_decode_error_not_a_recursion_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="nesting too deep"):
        parse_json(DEEP)
    with pytest.raises(json.JSONDecodeError, match="nesting too deep"):
        parse_json(DEEP.encode())
    assert parse_json('{"a": [1]}') == {"a": [1]}


def test_deeply_nested_line_or_array_names_its_file_and_line(tmp_path: Path) -> None:
    lines = tmp_path / "qa.jsonl"
    lines.write_text(json.dumps(GOOD) + "\n" + DEEP + "\n", "utf-8")
    with pytest.raises(BioqwenError, match=r"qa\.jsonl:2: malformed JSON: nesting too deep"):
        _read(lines)
    skipped = [i for i in _read(lines, "skip") if isinstance(i, BadLine)]
    assert [(b.where.rsplit(":", 1)[-1], b.reason) for b in skipped] == [("2", "malformed_json")]
    array = tmp_path / "qa.json"
    array.write_text("[" + json.dumps(GOOD) + "," + DEEP + "]", "utf-8")
    with pytest.raises(BioqwenError, match=r"qa\.json:1: malformed JSON: nesting too deep"):
        _read(array)


@pytest.mark.parametrize("field", ["instruction", "output"])
def test_a_lone_surrogate_is_a_bad_line_not_a_crash_in_dedup(tmp_path: Path, field: str) -> None:
    # JSON may spell a lone surrogate ("\ud800"); such text cannot be encoded, so dedup's
    # hash (and Arrow, and the tokenizer) raised UnicodeEncodeError.
    path = tmp_path / "qa.jsonl"
    bad = json.dumps({**GOOD, field: "发热\ud800"})  # ensure_ascii: written as \ud800
    path.write_text(json.dumps(GOOD) + "\n" + bad + "\n", "utf-8")
    with pytest.raises(BioqwenError, match=r"qa\.jsonl:2: .*lone surrogate \\ud800"):
        _read(path)
    items = _read(path, "skip")
    assert [i.reason for i in items if isinstance(i, BadLine)] == ["invalid_unicode"]
    kept, drops = Deduplicator()([i for i in items if isinstance(i, dict)])
    assert len(kept) == 1 and drops == []


def test_not_utf8_names_utf16_or_the_first_bad_line(tmp_path: Path) -> None:
    utf16 = tmp_path / "u16.csv"
    utf16.write_text("prompt,answer\nq,a\n", "utf-16")
    assert str(not_utf8(utf16)) == f"{utf16}:1: UTF-16 text; save it as UTF-8"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("prompt,answer\nq,café\n".encode("latin-1"))
    assert str(not_utf8(latin)) == f"{latin}:2: invalid UTF-8 at byte 19; save it as UTF-8"


def test_deep_nesting_is_refused_even_under_a_raised_recursion_limit() -> None:
    # json's C scanner recurses once per level: with sys.setrecursionlimit raised (as some
    # libraries and tests do) "[" * 100_000 overflowed the C stack, a segfault.
    code = (
        "import sys; sys.setrecursionlimit(1_000_000)\n"
        "from bioqwen.runs import parse_json\n"
        "try:\n    parse_json('[' * 100_000 + ']' * 100_000)\n"
        "except ValueError as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("nesting too deep")
