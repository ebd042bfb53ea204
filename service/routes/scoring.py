"""The native scoring API: ``/v1/score``, ``/v1/threads:score``, ``/v1/articles``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Response

from model.comments import Comment, ScoreResult
from service import db
from service.deps import BatcherDep, ScorerDep, ScorerKey, SessionDep, SettingsDep
from service.errors import ScoringTimeout
from service.schemas import (
    ArticleOut,
    ArticleRegistration,
    ScoreRequest,
    ScoreResponse,
    ThreadRequest,
    ThreadResponse,
)
from service.scoring import (
    InputProblem,
    check_attributes,
    find_drift,
    only,
    record,
    register_article,
    resolve_comments,
    thread_comments,
)
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["scoring"])


async def score_with_limit(batcher, comments: list[Comment], *, spans: bool,
                           settings: Settings) -> list[ScoreResult]:
    """Score through the micro-batcher within ``score_timeout_s``."""
    try:
        return await asyncio.wait_for(batcher.score(comments, spans=spans),
                                      settings.score_timeout_s)
    except TimeoutError:
        raise ScoringTimeout(settings.score_timeout_s) from None


@router.post("/score", response_model=ScoreResponse, response_model_exclude_none=True)
async def score(body: ScoreRequest, key: ScorerKey, session: SessionDep, settings: SettingsDep,
                scorer: ScorerDep, batcher: BatcherDep) -> dict:
    """Score one comment or a list, each with its optional article and parent."""
    if len(body.comments) > settings.max_batch:
        raise InputProblem("comments", f"at most {settings.max_batch} per request", status=413)
    names = check_attributes(body.attributes, scorer.config.attributes)
    if any(c.article_id or c.parent_id for c in body.comments):  # ids to look up
        comments = await asyncio.to_thread(resolve_comments, session, body.comments, settings)
    else:  # no database work: no thread hop
        comments = resolve_comments(None, body.comments, settings)
    results = await score_with_limit(batcher, comments, spans=body.spans, settings=settings)
    if body.store:
        await asyncio.to_thread(
            record, session, comments, results, source="native", key_id=key.key_id,
            article_ids=[c.article_id for c in body.comments],
            parent_ids=[c.parent_id for c in body.comments],
        )
    return {"results": [only(r, names) for r in results], "model": scorer.config.tag}


@router.post("/threads:score", response_model=ThreadResponse, response_model_exclude_none=True)
async def score_thread(body: ThreadRequest, key: ScorerKey, session: SessionDep,
                       settings: SettingsDep, scorer: ScorerDep,
                       batcher: BatcherDep) -> ThreadResponse:
    """Score a whole thread, each comment with the article and its parent; mark the drift."""
    article_id, comments, depths = await asyncio.to_thread(
        thread_comments, session, body, settings
    )
    results = await score_with_limit(batcher, comments, spans=body.spans, settings=settings)
    if body.store:
        await asyncio.to_thread(
            record, session, comments, results, source="thread", key_id=key.key_id,
            article_ids=[article_id] * len(comments),
            parent_ids=[c.parent_id for c in body.comments],
        )
    out, drift = find_drift(body, results, depths)
    return ThreadResponse(article_id=article_id, model=scorer.config.tag, results=out,
                          drift=drift)


@router.post("/articles", response_model=ArticleOut, status_code=201)
def create_article(body: ArticleRegistration, key: ScorerKey, session: SessionDep,
                   settings: SettingsDep, response: Response) -> ArticleOut:
    """Register (or update) an article once by id; later calls refer to it by ``article_id``."""
    row, created = register_article(session, body, settings)
    if not created:
        response.status_code = 200
    return ArticleOut(id=row.id, title=row.title, text=row.text, url=row.url, created=created)


@router.get("/articles/{article_id}", response_model=ArticleOut)
def get_article(article_id: str, key: ScorerKey, session: SessionDep) -> ArticleOut:
    """A registered article."""
    row = session.get(db.Article, article_id)
    if row is None:
        raise HTTPException(404, f"article_id: no article '{article_id}' is registered")
    return ArticleOut(id=row.id, title=row.title, text=row.text, url=row.url)
