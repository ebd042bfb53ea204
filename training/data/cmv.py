"""r/ChangeMyView ad hominem threads (Habernal et al., NAACL 2018), one JSON object per comment.

Each thread is a short reply chain: ``ah`` threads (4 comments) end in a comment that moderators
removed under CMV rule 2 ("Don't be rude or hostile to other users"), which the paper calls an
ad hominem; ``delta`` threads (3 comments) end in a comment that won a persuasion award. Fields:
``thread_file``, ``thread_type``, ``position``, ``id``, ``parent_id`` (``t1_<comment>`` or
``t3_<submission>``), ``link_id`` (``t3_<submission>``), ``body``, ``violated_rule``, ``delta``.

What the file does NOT have: submission titles. For 59 threads the submission itself (the OP) is
the thread's first row (empty ``link_id``/``parent_id``, ``id`` = submission id); its opening
becomes ``article_text`` for every thread of that submission. Everywhere else the only context
is the parent comment, which is in the file for positions 1..3 of every chain.

Labels (``labels`` in the spec, see configs/labels.yaml): rule 2 -> personal_attack 1 and
incivility 1; comments of delta threads -> both 0; the other unremoved comments of ah threads ->
personal_attack 0 only (they lead up to a removal and were often heated, so incivility is left
unlabelled); comments removed under other rules (1 off-topic-to-OP, 3 bad-faith accusation,
5 low effort) are skipped, as are ``[removed]``/``[deleted]`` bodies.
Split: by submission (threads of one submission share comments and subject), seeded.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from training.data.splits import assign_split
from training.records import Record

log = logging.getLogger(__name__)

DEFAULT_LABELS = {
    "attack": {"personal_attack": 1.0, "incivility": 1.0},
    "delta_thread": {"personal_attack": 0.0, "incivility": 0.0},
    "ah_thread": {"personal_attack": 0.0},
}
_GONE = {"[removed]", "[deleted]", ""}
# the moderators' boilerplate appended to every submission body
_FOOTNOTE = re.compile(r"\s*_{3,}\s*>\s*\*Hello, users of CMV!.*\Z", re.S)


def _clean(body: str) -> str:
    return html.unescape(body).strip()


def _op_text(body: str, max_chars: int) -> str:
    text = _FOOTNOTE.sub("", _clean(body))
    if len(text) > max_chars:  # the opening states the view; cut at a word boundary
        text = text[:max_chars].rsplit(" ", 1)[0] + " ..."
    return text


def _read(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: invalid JSON ({error})") from None
    return rows


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    """Yield one record per labelled CMV comment, with its parent and (when known) the OP."""
    path = Path(data_dir) / spec.get("file", "cmv_ad_hominem_threads.jsonl")
    labels = {**DEFAULT_LABELS, **spec.get("labels", {})}
    attack_rules = set(spec.get("attack_rules", [2]))
    fraction = float(spec.get("validation_fraction", 0.2))
    op_chars = int(spec.get("op_chars", 1000))
    rows = _read(path)

    by_id = {row["id"]: row for row in rows}
    ops = {row["id"]: _op_text(row["body"], op_chars) for row in rows if not row.get("link_id")}
    threads: dict[str, list[dict]] = {}
    for row in rows:
        threads.setdefault(row["thread_file"], []).append(row)

    seen: set[str] = set()
    skipped = 0
    for thread_file, chain in threads.items():
        chain.sort(key=lambda r: r["position"])
        link = next((r["link_id"] for r in chain if r.get("link_id")), "")
        submission = link[3:] if link.startswith("t3_") else chain[0]["id"]
        split = assign_split(f"cmv:{submission}", validation_fraction=fraction)
        article = ops.get(submission) or None
        group = f"cmv:{thread_file.removesuffix('.json')}"
        for row in chain:
            if not row.get("link_id"):  # the submission itself: it is the article, not a comment
                continue
            text = _clean(row["body"])
            rule = int(row.get("violated_rule") or 0)
            if row["id"] in seen:  # a comment shared by two chains of one submission: once
                continue
            seen.add(row["id"])
            if text in _GONE or (rule and rule not in attack_rules):
                skipped += 1
                continue
            if rule in attack_rules:
                target = labels["attack"]
            elif row["thread_type"] == "delta":
                target = labels["delta_thread"]
            else:
                target = labels["ah_thread"]
            parent_id = row.get("parent_id", "")
            parent = None
            if parent_id.startswith("t1_") and parent_id[3:] in by_id:
                parent = _clean(by_id[parent_id[3:]]["body"])
                parent = None if parent in _GONE else parent
            yield Record(
                text=text,
                labels=dict(target),
                source="cmv",
                split=split,
                article_text=article,
                parent=parent,
                group=group,
                meta={
                    "topic": f"cmv:{submission}",  # pairs: never a negative from one submission
                    "comment_id": row["id"],
                    "thread_type": row["thread_type"],
                    "violated_rule": rule,
                },
            )
    log.info("cmv: %d comments skipped (removed bodies or other rule violations)", skipped)
