"""training/export.py: corpus records out as labelled JSONL that the CLI reads back."""

from __future__ import annotations

import json
from pathlib import Path

from service.inputs import read_records
from tests.datasets_fixture import mini_datasets  # noqa: F401 (fixture)
from training.export import main, select, write_jsonl
from training.records import Record

ROOT = Path(__file__).resolve().parents[2]


def record(source: str, split: str, i: int, **extra) -> Record:
    return Record(text=f"comment {i}", labels={"incivility": float(i % 2)}, source=source,
                  split=split, **extra)


def test_written_records_read_back_with_context_labels_and_spans(tmp_path):
    records = [record("ucc", "validation", 1, article_title="war", parent="i agree",
                      span_chars=[0, 1]), record("olid", "validation", 2)]
    assert write_jsonl(records, tmp_path / "v.jsonl") == 2
    back = list(read_records(tmp_path / "v.jsonl"))
    assert [r.comment.id for r in back] == ["ucc-1", "olid-2"]
    assert back[0].comment.article.title == "war" and back[0].comment.parent == "i agree"
    assert back[0].labels == {"incivility": 1.0} and back[0].span_chars == [0, 1]
    assert back[1].comment.article is None and back[1].span_chars is None


def test_select_caps_each_source_keeps_order_and_drops_pairs():
    records = ([record("a", "validation", i) for i in range(10)]
               + [record("b", "validation", i) for i in range(3)]
               + [record("a", "train", 99), record("a:pairs", "validation", 98)])
    chosen = select(records, split="validation", max_per_source=4, seed=0)
    assert [r.source for r in chosen].count("a") == 4 and [r.source for r in chosen].count("b") == 3
    assert all(r.split == "validation" and r.source != "a:pairs" for r in chosen)
    assert chosen == sorted(chosen, key=records.index)
    assert select(records, split="validation", max_per_source=4, seed=0) == chosen
    assert len(select(records, split="validation", max_per_source=None, seed=0, pairs=True)) == 14


def test_main_exports_a_validation_split(mini_datasets, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(ROOT)
    out = tmp_path / "val.jsonl"
    assert main(["--data-dir", str(mini_datasets), "--sources", "kaggle_insults,toxic_spans",
                 "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {r["source"] for r in rows} == {"kaggle_insults", "toxic_spans"}
    assert f"{len(rows)} validation records written" in capsys.readouterr().out
