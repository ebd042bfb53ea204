"""Moderator decisions and Perspective ``suggestscore`` feedback as labelled training records,
in the format ``training/data/moderator_decisions.py`` reads (its docstring defines it).

Only the human decision in force on each comment is exported (an undone decision is not; an
automatic one is the model's own opinion, not a label). A rejection carries its reason, which
the training label map turns into labels (``off_topic`` -> off_topic, ``personal_attack`` ->
personal_attack, ...); an approval also carries explicit 0 labels for the risk attributes the
model had flagged, the mistakes a retrained model should learn from. A suggested score becomes a
decision on its attribute: approve (label 0) below 0.5, reject (label 1) from 0.5.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from service.db import Article, Decision, QueueComment, ScoreFeedback
from service.queue import as_utc
from service.rules import DEFAULT_RISK_ATTRIBUTES


def _iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


def decision_records(session: Session, since: dt.datetime | None = None) -> Iterator[dict]:
    """The moderator decision in force on each comment decided at or after ``since``."""
    parent = aliased(QueueComment)
    query = (
        select(Decision, QueueComment, Article, parent.text)
        .join(QueueComment, QueueComment.decision_id == Decision.id)
        .outerjoin(Article, Article.id == QueueComment.article_id)
        .outerjoin(parent, parent.comment_id == QueueComment.parent_id)
        .where(Decision.automatic.is_(False), Decision.action.in_(("approve", "reject")))
        .order_by(Decision.created_at, Decision.id)
    )
    if since is not None:
        query = query.where(Decision.created_at >= as_utc(since))
    for decision, comment, article, parent_text in session.execute(query):
        labels = None
        if decision.action == "approve":
            flagged = [a for a in decision.flags or [] if a in DEFAULT_RISK_ATTRIBUTES]
            labels = {a: 0 for a in flagged} or None
        yield {
            "comment_id": comment.comment_id,
            "text": comment.text,
            "article": {"title": article.title, "text": article.text} if article else None,
            "parent": parent_text,
            "decision": decision.action,
            "reason": decision.reason,
            "labels": labels,
            "moderator": decision.moderator or "unknown",
            "decided_at": _iso(decision.created_at),
            "model": decision.model,
            "note": decision.note,
            "scores": decision.scores,
            "source": "queue",
        }


def feedback_records(session: Session, since: dt.datetime | None = None) -> Iterator[dict]:
    """``suggestscore`` feedback received at or after ``since``, one record per attribute."""
    query = select(ScoreFeedback).order_by(ScoreFeedback.created_at, ScoreFeedback.id)
    if since is not None:
        query = query.where(ScoreFeedback.created_at >= as_utc(since))
    for row in session.scalars(query):
        positive = row.value >= 0.5
        who = row.community_id or (f"key {row.key_id}" if row.key_id else "anonymous")
        yield {
            "comment_id": f"suggestscore:{row.id}",
            "text": row.text,
            "article": {"title": "", "text": row.article_text} if row.article_text else None,
            "parent": row.parent_text,
            "decision": "reject" if positive else "approve",
            "reason": None,
            "labels": {row.attribute: int(positive)},
            "moderator": f"suggestscore {who}",
            "decided_at": _iso(row.created_at),
            "model": None,
            "suggested": {row.requested_name: row.value},
            "source": "suggestscore",
        }


def export_decisions(session: Session, output: Path, *,
                     since: dt.datetime | None = None) -> tuple[int, int]:
    """Write decisions then feedback to ``output`` (JSONL); the numbers of each written."""
    counts = [0, 0]
    with open(output, "w", encoding="utf-8") as sink:
        for i, records in enumerate((decision_records(session, since),
                                     feedback_records(session, since))):
            for record in records:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[i] += 1
    return counts[0], counts[1]
