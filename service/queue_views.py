"""Reading the moderation queue: lists in a chosen order with filters, counts per queue, an
author's history and the decision log, as plain dicts for the API (no state changes here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, desc, func, select, true
from sqlalchemy.orm import Session

from model.attributes import NAMES
from service.db import Article, Decision, QueueComment
from service.queue import UNDECIDED, as_utc
from service.scoring import InputProblem

QUEUES = {
    "pending": UNDECIDED,  # everything waiting for a human
    "flagged": ("flagged",),  # held by a rule
    "approved": ("approved",),
    "rejected": ("rejected",),
    "all": None,
}
SORTS = ("risk", "time", "oldest", "thread")


def _iso(value: dt.datetime | None) -> str | None:
    value = as_utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def decision_dict(d: Decision, comment_id: str | None = None) -> dict:
    return {
        "id": d.id, "comment_id": comment_id, "action": d.action, "status": d.status,
        "previous_status": d.previous_status, "reason": d.reason, "note": d.note,
        "automatic": d.automatic, "rule": d.rule, "moderator": d.moderator,
        "scores": d.scores, "flags": d.flags, "model": d.model, "version": d.version,
        "undoes": d.undoes_id, "decided_at": _iso(d.created_at),
    }


def items(session: Session, rows: Sequence[QueueComment]) -> list[dict]:
    """Rows as API items with their article title, parent text and decision in force."""
    article_ids = {r.article_id for r in rows if r.article_id}
    titles = dict(session.execute(select(Article.id, Article.title)
                                  .where(Article.id.in_(article_ids))).all()) if article_ids else {}
    parent_ids = {r.parent_id for r in rows if r.parent_id}
    parents = {}
    if parent_ids:
        for comment_id, text, author in session.execute(
            select(QueueComment.comment_id, QueueComment.text, QueueComment.author_name)
            .where(QueueComment.comment_id.in_(parent_ids))
        ):
            parents[comment_id] = {"text": text, "author_name": author}
    decision_ids = {r.decision_id for r in rows if r.decision_id}
    decisions = {d.id: d for d in session.scalars(
        select(Decision).where(Decision.id.in_(decision_ids)))} if decision_ids else {}
    now = dt.datetime.now(dt.UTC)
    out = []
    for r in rows:
        claimed = r.claimed_by is not None and as_utc(r.claimed_until) > now
        decision = decisions.get(r.decision_id)
        out.append({
            "comment_id": r.comment_id, "article_id": r.article_id,
            "article_title": titles.get(r.article_id), "parent_id": r.parent_id,
            "parent": parents.get(r.parent_id), "author": {"id": r.author_id,
                                                            "name": r.author_name},
            "text": r.text, "posted_at": _iso(r.posted_at), "status": r.status,
            "scores": r.scores, "flags": r.flags or [], "spans": r.spans, "model": r.model,
            "risk": r.risk, "rule": r.rule, "version": r.version,
            "depth": r.thread_path.count("/") - 1,
            "claimed_by": r.claimed_by_name if claimed else None,
            "claimed_until": _iso(r.claimed_until) if claimed else None,
            "decision": decision_dict(decision, r.comment_id) if decision else None,
        })
    return out


def list_queue(session: Session, *, queue: str = "pending", sort: str = "risk",
               article_id: str | None = None, attribute: str | None = None,
               author_id: str | None = None, min_score: float | None = None,
               max_score: float | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[dict], int]:
    """One page of a queue and the queue's size under the filters.

    ``attribute`` alone keeps the comments the model flagged for it; with ``min_score`` /
    ``max_score`` it bounds that attribute's score instead (flagged or not), and without an
    attribute the bounds apply to the risk. ``sort=risk`` puts the highest calibrated score
    first (of ``attribute`` when given), ties broken by the sum of the risk scores, then the
    oldest first; unscored comments come last."""
    if queue not in QUEUES:
        raise InputProblem("queue", f"must be one of {', '.join(QUEUES)}")
    if sort not in SORTS:
        raise InputProblem("sort", f"must be one of {', '.join(SORTS)}")
    if attribute is not None and attribute not in NAMES:
        raise InputProblem("attribute", f"unknown attribute '{attribute}'")
    conditions = []
    if QUEUES[queue] is not None:
        conditions.append(QueueComment.status.in_(QUEUES[queue]))
    if article_id is not None:
        conditions.append(QueueComment.article_id == article_id)
    if author_id is not None:
        conditions.append(QueueComment.author_id == author_id)
    score = QueueComment.risk
    if attribute is not None:
        score = QueueComment.scores[attribute].as_float()
        if min_score is None and max_score is None:
            conditions.append(QueueComment.flag_list.like(f"%,{attribute},%"))
    if min_score is not None:
        conditions.append(score >= min_score)
    if max_score is not None:
        conditions.append(score <= max_score)
    where = and_(*conditions) if conditions else true()
    total = session.scalar(select(func.count()).select_from(QueueComment).where(where))
    order = {
        "risk": (score.is_(None), desc(score), desc(QueueComment.risk_total),
                 QueueComment.posted_at, QueueComment.id),
        "time": (desc(QueueComment.posted_at), desc(QueueComment.id)),
        "oldest": (QueueComment.posted_at, QueueComment.id),
        "thread": (QueueComment.article_id, QueueComment.thread_path),
    }[sort]
    rows = session.scalars(select(QueueComment).where(where).order_by(*order)
                           .limit(limit).offset(offset)).all()
    return items(session, rows), total


def counts(session: Session) -> dict[str, int]:
    """How many comments each queue holds."""
    by_status = dict(session.execute(select(QueueComment.status, func.count())
                                     .group_by(QueueComment.status)).all())
    out = {name: sum(by_status.get(s, 0) for s in statuses)
           for name, statuses in QUEUES.items() if statuses is not None}
    out["all"] = sum(by_status.values())
    out["unscored"] = by_status.get("scoring", 0)
    return out


def author_history(session: Session, author_id: str, *, limit: int = 50) -> dict:
    """An author's comments, newest first, with how many were rejected and approved."""
    by_status = dict(session.execute(
        select(QueueComment.status, func.count()).where(QueueComment.author_id == author_id)
        .group_by(QueueComment.status)).all())
    if not by_status:
        raise InputProblem("author_id", f"no comments by author '{author_id}'", status=404)
    rows = session.scalars(select(QueueComment).where(QueueComment.author_id == author_id)
                           .order_by(desc(QueueComment.posted_at), desc(QueueComment.id))
                           .limit(limit)).all()
    return {
        "author": {"id": author_id, "name": rows[0].author_name if rows else ""},
        "total": sum(by_status.values()),
        "rejected": by_status.get("rejected", 0),
        "approved": by_status.get("approved", 0),
        "waiting": sum(by_status.get(s, 0) for s in QUEUES["pending"]),
        "comments": items(session, rows),
    }


def audit_log(session: Session, *, comment_id: str | None = None, moderator: str | None = None,
              since: dt.datetime | None = None, include_automatic: bool = True,
              limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Decisions, newest first: who, when, what, and the scores the decider saw."""
    conditions = []
    if comment_id is not None:
        conditions.append(QueueComment.comment_id == comment_id)
    if moderator is not None:
        conditions.append(Decision.moderator == moderator)
    if since is not None:
        conditions.append(Decision.created_at >= as_utc(since))
    if not include_automatic:
        conditions.append(Decision.automatic.is_(False))
    joined = select(Decision, QueueComment.comment_id).join(
        QueueComment, QueueComment.id == Decision.queue_comment_id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(joined.subquery()))
    rows = session.execute(joined.order_by(desc(Decision.created_at), desc(Decision.id))
                           .limit(limit).offset(offset)).all()
    return [decision_dict(d, comment_id) for d, comment_id in rows], total
