"""OLID, the Offensive Language Identification Dataset (OffensEval 2019): English tweets.

``olid-training-v1.0.tsv`` is tab-separated with columns ``id, tweet, subtask_a, subtask_b,
subtask_c`` and a hierarchical label: A = OFF/NOT, B = TIN (targeted insult or threat) / UNT,
C = IND / GRP / OTH (the target), ``NULL`` where a level does not apply. The tweets are not
CSV-quoted: a ``"`` inside a tweet is a literal character, so the file is read with quoting off;
the ~1,000 tweets that contained a quote were themselves wrapped in a layer of CSV quoting (an
opening quote, every inner quote doubled, a closing quote) when the file was made: undone here.
The labels of each ``A/B/C`` combination are a table in the YAML. The official test files are
withheld; the training file is split seeded by tweet id.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, labels_for, read_rows, split_of, unquote_csv_field
from training.records import Record


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    for row in read_rows(Path(data_dir) / spec["file"], delimiter="\t", quoting=csv.QUOTE_NONE):
        text = clean(unquote_csv_field(row["tweet"]))
        key = "/".join((row["subtask_a"], row["subtask_b"], row["subtask_c"]))
        labels = labels_for(spec["labels"], key)
        if text is None or labels is None:
            continue
        group = f"olid:{row['id']}"
        yield Record(
            text=text,
            labels=labels,
            source="olid",
            split=split_of(group, spec),
            group=group,
            meta={"olid_labels": key},
        )
