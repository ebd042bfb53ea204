"""Ruddit (Hada et al., ACL 2021): Reddit comments with a degree-of-offensiveness score.

``ruddit_with_text.csv`` has ``post_id, comment_id, txt, url, offensiveness_score``; the score
comes from best-worst scaling and runs from -1 (maximally supportive) to 1 (maximally
offensive). Supportive and neutral comments are not uncivil, so the score is not rescaled over
its whole range: it maps linearly to an incivility target that is 0 at or below ``zero_at`` and
1 at or above ``one_at`` (the YAML says where, and why). Comments whose body was deleted or
removed after annotation are dropped. The split is seeded by Reddit post (thread) id.

With ``title_from_url`` the post's title, as Reddit spells it in the comment's permalink
(``/r/<subreddit>/comments/<post id>/<title_slug>/``: lower case, underscores, cut at about 50
characters), becomes the record's ``article_title``: the subject each comment was written
under, for off-topic pairs (``offtopic_pairs``). Comments on image posts have no slug and no
title.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, clip01, read_rows, split_of
from training.records import Record

PERMALINK = re.compile(r"/r/[^/]+/comments/[^/]+/([^/]+)/")


def title_from_url(url: str) -> str | None:
    """The post title in a Reddit permalink's slug (``cmv_the_so_called_wage_gap_is_a_myth``
    -> ``cmv the so called wage gap is a myth``), or None when the link has none."""
    match = PERMALINK.search(url or "")
    if match is None:
        return None
    title = " ".join(match.group(1).split("_"))
    return title or None


def score_to_target(score: float, zero_at: float, one_at: float) -> float:
    return clip01((score - zero_at) / (one_at - zero_at))


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    mapping = spec["score"]
    dropped = set(spec.get("drop_texts", []))
    titled = bool(spec.get("title_from_url", False))
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
            article_title=title_from_url(row.get("url", "")) if titled else None,
            meta={"comment_id": row["comment_id"], "offensiveness_score": score},
        )
