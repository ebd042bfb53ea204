"""Debiasing data of Dixon et al. (2018), "Measuring and Mitigating Unintended Bias in Text
Classification": real, non-toxic Wikipedia sentences that mention identity terms ("gay",
"muslim", ...), added to training so the model stops scoring identity terms as attacks.

``toxicity_debiasing_data.tsv`` is tab-separated with ``rev_id, comment, is_toxic, split``;
comments may be quoted and span lines. ``is_toxic`` is ``False`` throughout; its value picks the
labels from the YAML, so an unexpected value is skipped rather than guessed. Rows of the file's
own ``test`` split are withheld, like every official test split; the rest is split seeded by
Wikipedia page (the file's train/dev split puts sentences of one page on both sides).
(``bias_madlibs_77k.csv`` in the same folder is for fairness evaluation only and is deliberately
not a training source.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, labels_for, read_rows, split_of
from training.records import Record


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    for row in read_rows(Path(data_dir) / spec["file"], delimiter="\t"):
        text = clean(row["comment"])
        labels = labels_for(spec["labels"], (row["is_toxic"] or "").strip())
        withheld = (row["split"] or "").strip() in spec.get("withhold", [])
        if text is None or labels is None or withheld:
            continue
        # rev_id is "wikipedia<page id>_<page title>_<sentence>": the page is the thread.
        group = f"debiasing:{row['rev_id'].rpartition('_')[0] or row['rev_id']}"
        yield Record(
            text=text,
            labels=labels,
            source="debiasing",
            split=split_of(group, spec),
            group=group,
            meta={"rev_id": row["rev_id"]},
        )
