"""Ingestion (``POST /v1/comments``) and the moderation queue API (moderator keys)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from service import queue, queue_views
from service.db import QueueComment
from service.deps import BatcherDep, ModeratorKey, ScorerKey, SessionDep, SettingsDep
from service.queue_schemas import (
    BulkDecideRequest,
    BulkResult,
    CommentRef,
    DecideRequest,
    DecisionResult,
    IngestRequest,
    IngestResponse,
    QueueList,
)
from service.routes.scoring import score_with_limit
from service.rules import Rules
from service.scoring import InputProblem

log = logging.getLogger("civility.queue")
router = APIRouter(prefix="/v1", tags=["moderation"])


async def get_rules(request: Request) -> Rules:
    return request.app.state.rules


RulesDep = Annotated[Rules, Depends(get_rules)]


def _item(session: Session, comment_id: str) -> dict:
    return queue_views.items(session, [queue.find(session, comment_id)])[0]


def _outcomes(session: Session, rows: list[tuple[QueueComment, bool]]) -> list[dict]:
    out = []
    for row, created in rows:
        session.refresh(row)
        out.append({"comment_id": row.comment_id, "created": created, "status": row.status,
                    "scores": row.scores, "flags": row.flags or [], "model": row.model,
                    "risk": row.risk, "rule": row.rule})
    return out


@router.post("/comments", response_model=IngestResponse, status_code=201)
async def ingest_comments(body: IngestRequest, key: ScorerKey, session: SessionDep,
                          settings: SettingsDep, batcher: BatcherDep, rules: RulesDep,
                          response: Response) -> dict:
    """Ingest one or many comments for moderation (idempotent by id); each is stored before it
    is scored with its article and parent, then the rules place it in a queue."""
    if len(body.comments) > settings.max_ingest_comments:
        raise InputProblem("comments", f"at most {settings.max_ingest_comments} per request",
                           status=413)
    items = [queue.NewComment(comment_id=c.id, article_id=c.article_id, parent_id=c.parent_id,
                              author_id=c.author.id, author_name=c.author.name, text=c.text,
                              posted_at=c.time) for c in body.comments]
    rows = await asyncio.to_thread(queue.ingest, session, items, settings)
    fresh = list({row.id: row for row, created in rows if created}.values())
    if fresh:
        comments = await asyncio.to_thread(queue.scoring_inputs, session, fresh)
        try:
            results = await score_with_limit(batcher, comments, spans=True, settings=settings)
        except Exception:  # stored already: the re-scoring task scores them later
            log.exception("scoring %d ingested comments failed; they wait for re-scoring",
                          len(fresh))
        else:
            await asyncio.to_thread(queue.store_scores, session, [r.id for r in fresh],
                                    results, rules)
    else:
        response.status_code = 200
    out = await asyncio.to_thread(_outcomes, session, rows)
    return {"items": out, "created": len(fresh)}


@router.get("/queue", response_model=QueueList)
def list_queue(
    key: ModeratorKey, session: SessionDep,
    queue_name: Annotated[str, Query(alias="queue")] = "pending",
    sort: str = "risk",
    article_id: str | None = None,
    attribute: str | None = None,
    author_id: str | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """A queue (pending, flagged, approved, rejected, all), riskiest first by default."""
    found, count = queue_views.list_queue(
        session, queue=queue_name, sort=sort, article_id=article_id, attribute=attribute,
        author_id=author_id, min_score=min_score, max_score=max_score, limit=limit,
        offset=offset)
    return {"items": found, "count": count, "queue": queue_name, "sort": sort}


@router.get("/queue/counts")
def queue_counts(key: ModeratorKey, session: SessionDep) -> dict[str, int]:
    """How many comments each queue holds."""
    return queue_views.counts(session)


@router.get("/queue/item")
def queue_item(comment_id: str, key: ModeratorKey, session: SessionDep) -> dict:
    """One comment as the queue shows it."""
    return _item(session, comment_id)


@router.post("/queue/claim")
def claim(body: CommentRef, key: ModeratorKey, session: SessionDep,
          settings: SettingsDep) -> dict:
    """Claim a comment so that other moderators leave it alone for a while (409 if taken)."""
    queue.claim(session, body.comment_id, key, ttl_s=settings.claim_seconds)
    return _item(session, body.comment_id)


@router.post("/queue/release")
def release(body: CommentRef, key: ModeratorKey, session: SessionDep) -> dict:
    """Give up your claim on a comment."""
    queue.release(session, body.comment_id, key)
    return _item(session, body.comment_id)


@router.post("/queue/decide", response_model=DecisionResult)
def decide(body: DecideRequest, key: ModeratorKey, session: SessionDep) -> dict:
    """Approve or reject a comment (a rejection with a reason); 409 if someone else got there
    first."""
    decision = queue.decide(session, body.comment_id, action=body.decision, moderator=key,
                            reason=body.reason, note=body.note, version=body.version)
    return {"decision": queue_views.decision_dict(decision, body.comment_id),
            "item": _item(session, body.comment_id)}


@router.post("/queue/bulk", response_model=BulkResult)
def decide_many(body: BulkDecideRequest, key: ModeratorKey, session: SessionDep) -> dict:
    """The same decision on a selection; each comment on its own, so one conflict does not
    undo the others (the results say which failed and why)."""
    results = []
    for comment_id in dict.fromkeys(body.comment_ids):
        try:
            decision = queue.decide(session, comment_id, action=body.decision, moderator=key,
                                    reason=body.reason, note=body.note)
        except (queue.QueueConflict, InputProblem) as error:
            status = 409 if isinstance(error, queue.QueueConflict) else error.status
            results.append({"comment_id": comment_id, "ok": False, "status": status,
                            "error": str(error)})
        else:
            results.append({"comment_id": comment_id, "ok": True, "status": decision.status,
                            "decision_id": decision.id})
    decided = sum(r["ok"] for r in results)
    return {"results": results, "decided": decided, "failed": len(results) - decided}


@router.post("/queue/undo", response_model=DecisionResult)
def undo(body: CommentRef, key: ModeratorKey, session: SessionDep) -> dict:
    """Take back the moderator decision in force; the comment returns to its queue."""
    decision = queue.undo(session, body.comment_id, moderator=key, version=body.version)
    return {"decision": queue_views.decision_dict(decision, body.comment_id),
            "item": _item(session, body.comment_id)}


@router.get("/authors/{author_id:path}")
def author(author_id: str, key: ModeratorKey, session: SessionDep,
           limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    """An author's history: their comments (newest first) and how many were rejected."""
    return queue_views.author_history(session, author_id, limit=limit)


@router.get("/decisions")
def decisions(key: ModeratorKey, session: SessionDep, comment_id: str | None = None,
              moderator: str | None = None, since: dt.datetime | None = None,
              automatic: bool = True, limit: Annotated[int, Query(ge=1, le=500)] = 100,
              offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """The audit log: every decision (who, when, what, the scores then), newest first."""
    found, count = queue_views.audit_log(session, comment_id=comment_id, moderator=moderator,
                                         since=since, include_automatic=automatic,
                                         limit=limit, offset=offset)
    return {"items": found, "count": count}


@router.get("/moderator")
def whoami(key: ModeratorKey) -> dict:
    """Who this moderator key belongs to (the UI's sign-in check)."""
    return {"name": key.name, "role": key.role}

