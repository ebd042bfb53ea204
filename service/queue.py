"""Every state change of the moderation queue, each in one transaction.

Ingestion inserts comments as ``scoring`` and commits before anything is scored; storing scores
applies the rules; moderators claim, decide (approve / reject with a reason) and undo. A status
change is a conditional UPDATE on the version the caller read (``version = :seen``), followed
by one row in ``decisions`` unique per (comment, version): of two moderators deciding the same
comment at once exactly one succeeds and the other gets ``QueueConflict`` (HTTP 409), on SQLite
(one writer at a time, the loser's UPDATE matches no row) as on PostgreSQL (the loser's UPDATE
waits for the winner's row lock, then matches no row). Routes validate, authorise and call here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model.comments import Comment, ScoreResult
from service.auth import Principal
from service.db import Decision, QueueComment, utcnow
from service.rules import Rules
from service.scoring import InputProblem, check_size, find_articles, ingested_texts
from service.settings import Settings

DECIDED = ("approved", "rejected")
UNDECIDED = ("scoring", "pending", "flagged")
STATUS_OF_ACTION = {"approve": "approved", "reject": "rejected"}


class QueueConflict(Exception):
    """The comment changed (decided, claimed) since the caller looked: answered 409."""


class NotFound(InputProblem):
    def __init__(self, comment_id: str, field: str = "comment_id") -> None:
        super().__init__(field, f"no comment '{comment_id}' in the queue", status=404)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes (stored as UTC): make every value aware."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def moderator_id(principal: Principal) -> str:
    """Who holds a claim: the key (names may repeat), or the single development-mode user."""
    return f"key:{principal.key_id}" if principal.key_id is not None else "development"


@dataclass(frozen=True)
class NewComment:
    """A comment to ingest, validated by the route's schema."""

    comment_id: str
    article_id: str | None
    parent_id: str | None
    author_id: str
    author_name: str
    text: str
    posted_at: dt.datetime | None


# ---- ingestion ------------------------------------------------------------------------------
def ingest(session: Session, items: Sequence[NewComment],
           settings: Settings) -> list[tuple[QueueComment, bool]]:
    """Insert the comments not seen before as ``scoring`` and commit; return every item's row
    in request order with True where it is new. An id seen before is never inserted again (the
    unique constraint catches a concurrent twin: the retry then finds it)."""
    try:
        return _ingest(session, items, settings)
    except IntegrityError:
        session.rollback()
        return _ingest(session, items, settings)


def _ingest(session: Session, items: Sequence[NewComment],
            settings: Settings) -> list[tuple[QueueComment, bool]]:
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        check_size(f"comments[{i}].text", item.text, settings.max_comment_bytes)
        if item.comment_id in first and items[first[item.comment_id]] != item:
            raise InputProblem(f"comments[{i}].id",
                               f"'{item.comment_id}' appears twice with different content")
        first.setdefault(item.comment_id, i)
    ids = set(first)
    existing = {row.comment_id: row for row in session.scalars(
        select(QueueComment).where(QueueComment.comment_id.in_(ids)))}
    new = [i for c, i in first.items() if c not in existing]
    articles = find_articles(session, {items[i].article_id for i in new if items[i].article_id})
    parents_needed = {items[i].parent_id for i in new if items[i].parent_id} - ids
    known_parents = {row.comment_id: row for row in session.scalars(
        select(QueueComment).where(QueueComment.comment_id.in_(parents_needed)))}
    for i in new:
        item = items[i]
        if item.article_id is not None and item.article_id not in articles:
            raise InputProblem(f"comments[{i}].article_id",
                               f"no article '{item.article_id}' is registered "
                               "(POST /v1/articles first)")
        if item.parent_id is not None and item.parent_id not in ids | set(known_parents):
            raise InputProblem(f"comments[{i}].parent_id",
                               f"no comment '{item.parent_id}' was ingested before or in "
                               "this request")
        if item.parent_id == item.comment_id:
            raise InputProblem(f"comments[{i}].parent_id", "a comment cannot reply to itself")
    rows = dict(existing) | known_parents
    pending = list(new)
    while pending:  # parents before replies, so each reply's thread path extends its parent's
        ready = [i for i in pending if items[i].parent_id is None or items[i].parent_id in rows]
        if not ready:
            raise InputProblem(f"comments[{pending[0]}].parent_id", "replies form a cycle")
        for i in ready:
            rows[items[i].comment_id] = _insert(session, items[i], rows)
        pending = [i for i in pending if i not in ready]
    session.commit()
    return [(rows[item.comment_id], item.comment_id not in existing) for item in items]


def _insert(session: Session, item: NewComment, rows: dict[str, QueueComment]) -> QueueComment:
    now = utcnow()
    row = QueueComment(
        comment_id=item.comment_id, article_id=item.article_id, parent_id=item.parent_id,
        author_id=item.author_id, author_name=item.author_name, text=item.text,
        posted_at=as_utc(item.posted_at) or now, received_at=now, status="scoring",
        flag_list="", version=0, thread_path="",
    )
    session.add(row)
    session.flush()  # the id orders the thread: a reply sorts after its parent and siblings
    parent = rows.get(item.parent_id) if item.parent_id else None
    row.thread_path = (parent.thread_path if parent else "") + f"{row.id:010d}/"
    return row


def scoring_inputs(session: Session, rows: Sequence[QueueComment]) -> list[Comment]:
    """Each row as a ``Comment`` with its article and parent text, for the scorer."""
    articles = find_articles(session, {r.article_id for r in rows if r.article_id})
    parents = ingested_texts(session, {r.parent_id for r in rows if r.parent_id})
    out = []
    for row in rows:
        article = articles.get(row.article_id) if row.article_id else None
        out.append(Comment(text=row.text, article=article, parent=parents.get(row.parent_id),
                           id=row.comment_id))
    return out


def unscored(session: Session, limit: int = 64) -> list[QueueComment]:
    """Comments whose scores were never stored (e.g. the service stopped in between)."""
    return list(session.scalars(
        select(QueueComment).where(QueueComment.scored_at.is_(None))
        .order_by(QueueComment.id).limit(limit)))


def store_scores(session: Session, row_ids: Sequence[int], results: Sequence[ScoreResult],
                 rules: Rules) -> None:
    """Store each comment's scores with the model that made them, and let the rules decide the
    comments still waiting for them (a moderator may have decided one meanwhile: that stands)."""
    for row_id, result in zip(row_ids, results, strict=True):
        row = session.get(QueueComment, row_id)
        if row is None:
            continue
        risk, total = rules.risk(result.scores)
        row.scores, row.flags, row.spans = result.scores, result.flags, result.spans
        row.flag_list = "".join(f",{f}" for f in result.flags) + ("," if result.flags else "")
        row.model, row.scored_at, row.risk, row.risk_total = result.model, utcnow(), risk, total
        session.flush()
        if row.status != "scoring":
            continue
        verdict = rules.judge(row.text, result.scores, result.flags)
        changed = _change(session, row, seen=row.version, status=verdict.status, extra={
            "rule": verdict.rule})
        if changed and verdict.status != "pending":
            action = {"approved": "approve", "rejected": "reject", "flagged": "hold"}
            _log(session, row, action=action[verdict.status], status=verdict.status,
                 previous_status="scoring", automatic=True, rule=verdict.rule)
    session.commit()


# ---- moderators -----------------------------------------------------------------------------
def find(session: Session, comment_id: str) -> QueueComment:
    row = session.scalar(select(QueueComment).where(QueueComment.comment_id == comment_id))
    if row is None:
        raise NotFound(comment_id)
    return row


def claim(session: Session, comment_id: str, moderator: Principal, *,
          ttl_s: float) -> QueueComment:
    """Claim a comment for ``ttl_s`` seconds so other moderators leave it alone; a claim by
    someone else that has not expired is a conflict. Claiming again extends one's own claim."""
    row = find(session, comment_id)
    now = utcnow()
    me = moderator_id(moderator)
    result = session.execute(
        update(QueueComment)
        .where(QueueComment.id == row.id, _free_for(me, now))
        .values(claimed_by=me, claimed_by_name=moderator.name,
                claimed_until=now + dt.timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        session.refresh(row)
        raise QueueConflict(f"comment '{comment_id}' is claimed by {row.claimed_by_name} "
                            f"until {as_utc(row.claimed_until).isoformat(timespec='seconds')}")
    session.commit()
    session.refresh(row)
    return row


def release(session: Session, comment_id: str, moderator: Principal) -> None:
    """Give up one's claim on a comment (someone else's claim is left alone)."""
    row = find(session, comment_id)
    session.execute(
        update(QueueComment)
        .where(QueueComment.id == row.id, QueueComment.claimed_by == moderator_id(moderator))
        .values(claimed_by=None, claimed_by_name=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def decide(session: Session, comment_id: str, *, action: str, moderator: Principal,
           reason: str | None = None, note: str | None = None,
           version: int | None = None) -> Decision:
    """Approve or reject a comment for ``moderator``. Without ``version`` only an undecided
    comment can be decided; with it, the comment must still be at that version (how a
    moderator changes a decision on purpose). Raises ``QueueConflict`` otherwise."""
    if action not in STATUS_OF_ACTION:
        raise InputProblem("decision", "must be 'approve' or 'reject'")
    if action == "reject" and reason is None:
        raise InputProblem("reason", "a rejection needs a reason")
    if action == "approve" and reason is not None:
        raise InputProblem("reason", "only a rejection has a reason (use note for remarks)")
    row = find(session, comment_id)
    seen = _check_version(row, version)
    status = STATUS_OF_ACTION[action]
    try:
        if not _change(session, row, seen=seen, status=status, moderator=moderator):
            raise _conflict_now(session, row)
        decision = _log(session, row, action=action, status=status, previous_status=row.status,
                        moderator=moderator, reason=reason, note=note)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return decision


def undo(session: Session, comment_id: str, *, moderator: Principal,
         version: int | None = None) -> Decision:
    """Take back the moderator decision in force: the comment returns to where it was before
    (e.g. ``flagged``); the undo is itself a row of the audit log."""
    row = find(session, comment_id)
    current = session.get(Decision, row.decision_id) if row.decision_id else None
    if current is None or current.automatic or current.action not in STATUS_OF_ACTION:
        raise QueueConflict(f"comment '{comment_id}' has no moderator decision to undo")
    seen = row.version if version is None else _check_version(row, version)
    try:
        if not _change(session, row, seen=seen, status=current.previous_status,
                       moderator=moderator, decision_id=current.previous_decision_id):
            raise _conflict_now(session, row)
        decision = _log(session, row, action="undo", status=current.previous_status,
                        previous_status=row.status, moderator=moderator, undoes=current)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return decision


# ---- the guarded change ---------------------------------------------------------------------
def _free_for(me: str, now: dt.datetime):
    return or_(QueueComment.claimed_by.is_(None), QueueComment.claimed_by == me,
               QueueComment.claimed_until < now)


def _check_version(row: QueueComment, version: int | None) -> int:
    if version is None:
        if row.status in DECIDED:
            raise QueueConflict(f"comment '{row.comment_id}' was already {row.status}; send "
                                f"its version ({row.version}) to change the decision")
        return row.version
    if version != row.version:
        raise QueueConflict(f"comment '{row.comment_id}' changed since you read it (version "
                            f"{version}, now {row.version}: {row.status})")
    return version


def _change(session: Session, row: QueueComment, *, seen: int, status: str,
            moderator: Principal | None = None, decision_id: int | None = None,
            extra: dict | None = None) -> bool:
    """Move ``row`` to ``status`` if it is still at version ``seen`` (and, for a moderator, not
    claimed by another); True when this call made the change."""
    conditions = [QueueComment.id == row.id, QueueComment.version == seen]
    values = {"status": status, "version": seen + 1} | (extra or {})
    if moderator is not None:
        conditions.append(_free_for(moderator_id(moderator), utcnow()))
        values |= {"claimed_by": None, "claimed_by_name": None, "claimed_until": None,
                   "decision_id": decision_id}
    result = session.execute(update(QueueComment).where(*conditions).values(**values)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _conflict_now(session: Session, row: QueueComment) -> QueueConflict:
    """Why the change matched no row: read the comment as it is now."""
    comment_id = row.comment_id
    session.rollback()
    session.refresh(row)
    if row.claimed_by and as_utc(row.claimed_until) > utcnow() and row.status in UNDECIDED:
        return QueueConflict(f"comment '{comment_id}' is claimed by {row.claimed_by_name}")
    return QueueConflict(f"comment '{comment_id}' was changed by someone else meanwhile "
                         f"(now {row.status}, version {row.version})")


def _log(session: Session, row: QueueComment, *, action: str, status: str, previous_status: str,
         moderator: Principal | None = None, automatic: bool = False, rule: str | None = None,
         reason: str | None = None, note: str | None = None,
         undoes: Decision | None = None) -> Decision:
    """Append the decision (version = the comment's new version) and point the comment at it."""
    decision = Decision(
        queue_comment_id=row.id, version=row.version + 1, action=action, status=status,
        previous_status=previous_status,
        previous_decision_id=row.decision_id,
        undoes_id=undoes.id if undoes else None, reason=reason, note=note or None,
        automatic=automatic, rule=rule,
        moderator=moderator.name if moderator else None,
        key_id=moderator.key_id if moderator else None,
        scores=row.scores, flags=row.flags, model=row.model, created_at=utcnow(),
    )
    session.add(decision)
    session.flush()
    if action != "undo":
        session.execute(update(QueueComment).where(QueueComment.id == row.id)
                        .values(decision_id=decision.id)
                        .execution_options(synchronize_session=False))
    return decision
