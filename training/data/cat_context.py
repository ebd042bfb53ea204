"""CAT-LARGE (Pavlopoulos et al., 2020, "Toxicity Detection: Does Context Really Matter?"):
Wikipedia talk-page comments with their parent comment.

``CAT_LARGE_gc.csv`` (columns ``id, text, parent, label, api``) was rated by raters who saw the
parent, so the parent is kept as context; ``CAT_LARGE_gn.csv`` (``id, text, label, api,
parent`` with an empty parent) was rated without it, so those records carry no context.
``label`` is the majority toxic 0/1; ``api`` is an old Perspective score, a model output and
not a label, so it is ignored. There is no split: it is seeded by the parent comment (replies to
one parent stay together), or by the comment itself when it was rated without a parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, labels_for, read_rows, split_of, text_key
from training.records import Record


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    for file_name, with_parent in spec["files"].items():
        for row in read_rows(Path(data_dir) / file_name):
            text = clean(row["text"])
            labels = labels_for(spec["labels"], row["label"].strip())
            if text is None or labels is None:
                continue
            parent = clean(row.get("parent")) if with_parent else None
            group = f"cat_context:{text_key(parent or text)}"
            yield Record(
                text=text,
                labels=labels,
                source="cat_context",
                split=split_of(group, spec),
                parent=parent,
                group=group,
                meta={"id": row["id"], "rated_with_parent": bool(with_parent)},
            )
