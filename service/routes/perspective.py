"""Perspective API compatibility: ``/v1alpha1/comments:analyze`` and ``:suggestscore``.

Point a Perspective client (e.g. Coral Talk's custom Perspective endpoint) at
``http://HOST:PORT/v1alpha1`` with a Civility scorer key. The attribute table is in
``service/perspective.py`` and the README.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from service import db
from service.deps import BatcherDep, PerspectiveKey, ScorerDep, SessionDep, SettingsDep
from service.perspective import (
    PERSPECTIVE_TO_CIVILITY,
    AnalyzeRequest,
    PerspectiveError,
    SuggestRequest,
    analyze_response,
    check_text,
    context_comment,
    plan_attributes,
    resolve_language,
)
from service.routes.scoring import score_with_limit
from service.scoring import record

router = APIRouter(prefix="/v1alpha1", tags=["perspective"])


@router.post("/comments:analyze")
async def analyze(body: AnalyzeRequest, key: PerspectiveKey, session: SessionDep,
                  settings: SettingsDep, scorer: ScorerDep, batcher: BatcherDep) -> dict:
    """Perspective's ``comments:analyze``: scores in Perspective's request/response shapes."""
    check_text(body.comment.text, max_bytes=settings.max_comment_bytes)
    comment = context_comment(body.comment.text, body.context)
    languages, language_ok = resolve_language(body.comment.text, body.languages)
    plan = plan_attributes(
        body.requestedAttributes,
        available=list(scorer.config.attributes),
        has_context=comment.has_context,
        drop_unsupported=body.dropUnsupportedAttributes,
        language_ok=language_ok,
        languages=languages,
    )
    result = None
    if plan:
        [result] = await score_with_limit(batcher, [comment], spans=body.spanAnnotations,
                                          settings=settings)
        if not body.doNotStore:
            await asyncio.to_thread(record, session, [comment], [result], source="perspective",
                                    key_id=key.key_id, community_id=body.communityId)
    return analyze_response(body, plan, result, span_attribute=scorer.config.span_attribute,
                            languages=languages)


@router.post("/comments:suggestscore")
def suggest_score(body: SuggestRequest, key: PerspectiveKey, session: SessionDep,
                  settings: SettingsDep, scorer: ScorerDep) -> dict:
    """Perspective's ``comments:suggestscore``: store the score the client believes right
    (e.g. a moderator's decision) as feedback for retraining."""
    check_text(body.comment.text, max_bytes=settings.max_comment_bytes)
    if not body.attributeScores:
        raise PerspectiveError(400, "attributeScores: suggest at least one attribute's score.")
    comment = context_comment(body.comment.text, body.context)
    rows = []
    for name, entry in body.attributeScores.items():
        target = PERSPECTIVE_TO_CIVILITY.get(name.upper())
        if target is None or target not in scorer.config.attributes:
            raise PerspectiveError(400, f"attributeScores.{name}: attribute not supported",
                                   "ATTRIBUTE_NOT_SUPPORTED")
        if not 0.0 <= entry.summaryScore.value <= 1.0:
            raise PerspectiveError(400, f"attributeScores.{name}.summaryScore.value: "
                                        "must be between 0 and 1")
        rows.append(db.ScoreFeedback(
            text=comment.text,
            article_text=comment.article.content if comment.article else None,
            parent_text=comment.parent,
            attribute=target,
            requested_name=name.upper(),
            value=entry.summaryScore.value,
            community_id=body.communityId,
            client_token=body.clientToken,
            key_id=key.key_id,
        ))
    session.add_all(rows)
    session.commit()
    return {} if body.clientToken is None else {"clientToken": body.clientToken}
