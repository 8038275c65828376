from bioqwen.data.card import card_markdown, card_metrics, log_card, table1_rows, write_card

CARD = {
    "mix": "t",
    "hash": "abc",
    "seed": 1,
    "tokenizer": "qwen1_5",
    "max_tokens": 1024,
    "splits": {"train": 5, "validation": 1},
    "tasks": {
        "qa": {"raw": 10, "cleaned": 4, "tokens": 4000, "dropped": {"low_quality": 6}},
        "general": {"raw": 3, "cleaned": 1, "tokens": 900, "dropped": {"medical_domain": 2}},
        "ner": {"raw": 1, "cleaned": 1, "tokens": 100, "dropped": {}},
    },
    "total": {
        "raw": 14,
        "cleaned": 6,
        "tokens": 5000,
        "dropped": {"low_quality": 6, "medical_domain": 2},
    },
    "not_selected": {"tc": {"category_not_selected": 2}},
    "cleaning": ["category", "quality", "dedup", "length", "truncate"],
    "sources": {
        "a": {
            "constructed": True,
            "raw": 16,
            "kept": 6,
            "tokens": 5000,
            "truncated": 1,
            "dropped": {"low_quality": 6, "medical_domain": 2, "category_not_selected": 2},
        },
    },
    "skipped": [{"where": "f.jsonl:3", "reason": "malformed_json", "detail": "bad"}],
}


def test_table1_layout_in_paper_order_with_share_of_tokens():
    rows = table1_rows(CARD)
    assert [r[0] for r in rows] == ["NER", "QA", "COIG", "total"]
    qa = rows[1]
    # ratio is the share of cleaned tokens (4000 of 5000), as the paper's Table 1 computes it
    assert qa[1:5] == [10, 4, 80.0, 40.0]
    assert rows[-1][3] == 100.0
    assert rows[-1][1:3] == [14, 6] and rows[-1][3] == 100.0


def test_markdown_and_json_written(tmp_path):
    json_path, md_path = write_card(CARD, tmp_path)
    text = md_path.read_text("utf-8")
    assert "| QA | 10 | 4 |" in text and "| COIG | 3 | 1 |" in text
    assert "f.jsonl:3" in text and "malformed_json" in text
    assert "| a (constructed) | 16 | 6 |" in text
    assert json_path.exists() and text == card_markdown(CARD)
    # Out-of-scope categories are listed apart, outside the total, and the ratio's
    # denominator and the cleaning steps that ran are spelled out.
    table1, rest = text.split("## Not selected", 1)
    assert "| TC |" not in table1 and "| TC | category_not_selected | 2 |" in rest
    assert "self-cognition included" in table1
    assert "Cleaning steps that ran: category, quality, dedup, length, truncate." in table1
    assert "dedup) is not in the paper" in table1


class FakeTracker:
    def __init__(self):
        self.tables, self.summaries = {}, {}

    def table(self, key, columns, rows):
        self.tables[key] = (columns, rows)

    def summary(self, metrics):
        self.summaries.update(metrics)


def test_log_card_sends_tables_and_the_metrics_summary():
    tracker = FakeTracker()
    metrics = log_card(CARD, tracker)
    assert set(tracker.tables) == {"data_card/table1", "data_card/sources", "data_card/drops"}
    assert tracker.summaries == metrics == card_metrics(CARD)
    assert metrics["data/raw"] == 14 and metrics["data/qa/cleaned"] == 4
    assert (
        metrics["data/not_selected/tc/category_not_selected"] == 2 and "data/tc/raw" not in metrics
    )
    assert metrics["data/source/a/constructed"] == 1
    assert metrics["data/dropped/low_quality"] == 6 and metrics["data/skipped_lines"] == 1
