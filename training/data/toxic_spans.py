"""SemEval-2021 Task 5 Toxic Spans Detection: Civil Comments posts with toxic character offsets.

``tsd_train.csv`` / ``tsd_trial.csv`` have columns ``spans`` (a JSON-style list of character
offsets into ``text``) and ``text``. Every post was drawn from the Civil Comments posts that
raters had already judged toxic, so every post is an incivility positive. A post with an empty
span list is one where the span annotators did mark toxic words but no character got a
majority (or the whole post is toxic): "no toxic character" would be a false target there, so
by default its span labels are masked (``empty_spans: mask``) rather than taught as all-zero.
The official split is kept (trial = validation; the 8 posts in both files stay in validation
only); ``tsd_test.csv`` is withheld.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, read_rows, shift_spans, text_key
from training.records import Record


def read_semeval(path: Path) -> Iterator[tuple[str, list[int]]]:
    """Yield ``(raw text, span offsets)`` from one SemEval toxic-spans CSV."""
    for row in read_rows(path):
        yield row["text"], [int(offset) for offset in json.loads(row["spans"] or "[]")]


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    mask_empty = spec.get("empty_spans", "mask") == "mask"
    in_validation: set[str] = set()
    # Validation files first: a post that is in both trial and train stays in validation only.
    files = sorted(spec["files"].items(), key=lambda item: item[1] != "validation")
    for file_name, split in files:
        for raw, spans in read_semeval(Path(data_dir) / file_name):
            text = clean(raw)
            if text is None or (split == "train" and text in in_validation):
                continue
            if split == "validation":
                in_validation.add(text)
            span_chars = shift_spans(raw, spans)
            labels = {a: float(v) for a, v in spec["labels"].items()}
            yield Record(
                text=text,
                labels=labels,
                source="toxic_spans",
                split=split,
                span_chars=None if mask_empty and not span_chars else span_chars,
                # Civil Comments ids are not in these files; a post is its own group.
                group=f"civil_comments:{text_key(text)}",
            )
