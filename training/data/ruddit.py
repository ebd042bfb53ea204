"""Ruddit (Hada et al., ACL 2021): Reddit comments with a degree-of-offensiveness score.

``ruddit_with_text.csv`` has ``post_id, comment_id, txt, url, offensiveness_score``; the score
comes from best-worst scaling and runs from -1 (maximally supportive) to 1 (maximally
offensive). Supportive and neutral comments are not uncivil, so the score is not rescaled over
its whole range: it maps linearly to an incivility target that is 0 at or below ``zero_at`` and
1 at or above ``one_at`` (the YAML says where, and why). Comments whose body was deleted or
removed after annotation are dropped. The split is seeded by Reddit post (thread) id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, clip01, read_rows, split_of
from training.records import Record


def score_to_target(score: float, zero_at: float, one_at: float) -> float:
    return clip01((score - zero_at) / (one_at - zero_at))


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    mapping = spec["score"]
    dropped = set(spec.get("drop_texts", []))
    for row in read_rows(Path(data_dir) / spec["file"]):
        text = clean(row["txt"])
        if text is None or text in dropped:
            continue
        score = float(row["offensiveness_score"])
        target = score_to_target(score, float(mapping["zero_at"]), float(mapping["one_at"]))
        group = f"reddit:{row['post_id']}"
        yield Record(
            text=text,
            labels={mapping["attribute"]: round(target, 4)},
            source="ruddit",
            split=split_of(group, spec),
            group=group,
            meta={"comment_id": row["comment_id"], "offensiveness_score": score},
        )
