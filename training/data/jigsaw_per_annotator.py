"""A sample of the Jigsaw Toxic Comment (Wikipedia talk) data with each rater's judgment.

``sample_comment_text.csv`` has ``_unit_id, comment_text``; ``sample_training_data.csv`` has one
row per rater: ``_unit_id, _worker_id, identity_hate, obscene, threat, insult`` (0/1). Each
attribute's soft label is the share of the comment's raters who marked it. There is no
``toxic`` column, so incivility is left to other sources (no subtype marked does not mean
civil). About a quarter of the texts are still wrapped in a second layer of CSV quoting, which
is undone. No split: seeded by comment id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import (
    clean,
    mean,
    read_rows,
    split_of,
    to_float,
    unquote_csv_field,
)
from training.records import Record


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    data_dir = Path(data_dir)
    columns: dict[str, str] = spec["attributes"]  # rater column -> attribute
    votes: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in read_rows(data_dir / spec["ratings_file"]):
        for column, attribute in columns.items():
            value = to_float(row.get(column))
            if value is not None:
                votes[row["_unit_id"]][attribute].append(value)

    for row in read_rows(data_dir / spec["comments_file"]):
        unit = row["_unit_id"]
        # About a quarter of the texts still carry a second layer of CSV quoting.
        text = clean(unquote_csv_field(row["comment_text"]))
        if text is None or unit not in votes:
            continue
        labels = {a: round(mean(v), 4) for a, v in votes[unit].items()}
        group = f"jigsaw:{unit}"
        yield Record(
            text=text,
            labels=labels,
            source="jigsaw_per_annotator",
            split=split_of(group, spec),
            group=group,
            meta={"raters": max(len(v) for v in votes[unit].values())},
        )
