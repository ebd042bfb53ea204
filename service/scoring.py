"""What the scoring routes do: resolve context by id, check limits, score through the
micro-batcher, record the results, and find where a thread drifts off topic."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.comments import Article, Comment, ScoreResult
from service import db
from service.schemas import (
    ArticleRegistration,
    CommentIn,
    Drift,
    ThreadCommentOut,
    ThreadRequest,
)
from service.settings import Settings


class InputProblem(ValueError):
    """A request that is well-formed JSON but cannot be served: answered 4xx naming the field."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


def check_size(field: str, text: str, limit: int) -> None:
    if len(text.encode("utf-8")) > limit:
        raise InputProblem(field, f"over the limit of {limit} bytes (UTF-8)", status=413)


def find_articles(session: Session, ids: set[str]) -> dict[str, Article]:
    rows = session.scalars(select(db.Article).where(db.Article.id.in_(ids))) if ids else []
    return {row.id: Article(title=row.title, text=row.text) for row in rows}


def find_comment_texts(session: Session, ids: set[str]) -> dict[str, str]:
    """Texts of earlier comments by the caller's ids: scored ones (latest wins) and those
    ingested for moderation (which win: their id is the publisher's own, unique)."""
    if not ids:
        return {}
    rows = session.execute(
        select(db.ScoredComment.external_id, db.ScoredComment.text)
        .where(db.ScoredComment.external_id.in_(ids))
        .order_by(db.ScoredComment.id)
    )
    texts = {external_id: text for external_id, text in rows}
    texts.update(ingested_texts(session, ids))
    return texts


def ingested_texts(session: Session, ids: set[str]) -> dict[str, str]:
    """Texts of comments ingested for moderation, by the publisher's ids."""
    if not ids:
        return {}
    return dict(session.execute(select(db.QueueComment.comment_id, db.QueueComment.text)
                                .where(db.QueueComment.comment_id.in_(ids))).all())


def resolve_comments(session: Session | None, items: Sequence[CommentIn],
                     settings: Settings) -> list[Comment]:
    """``Comment``s with their article and parent, looked up by id where ids were given
    (``session`` may be None when no item names an id)."""
    articles = find_articles(session, {c.article_id for c in items if c.article_id})
    parents = find_comment_texts(session, {c.parent_id for c in items if c.parent_id})
    comments = []
    for i, item in enumerate(items):
        field = f"comments[{i}]"
        check_size(f"{field}.text", item.text, settings.max_comment_bytes)
        if item.article_id is not None:
            if item.article_id not in articles:
                raise InputProblem(f"{field}.article_id",
                                   f"no article '{item.article_id}' is registered "
                                   "(POST /v1/articles first)")
            article = articles[item.article_id]
        elif item.article is not None:
            article = Article(title=item.article.title, text=item.article.text)
            check_size(f"{field}.article.text", article.text, settings.max_article_bytes)
        else:
            article = None
        if item.parent_id is not None:
            if item.parent_id not in parents:
                raise InputProblem(f"{field}.parent_id",
                                   f"no comment '{item.parent_id}' was scored and stored before")
            parent = parents[item.parent_id]
        else:
            parent = item.parent
            if parent is not None:
                check_size(f"{field}.parent", parent, settings.max_comment_bytes)
        comments.append(Comment(text=item.text, article=article, parent=parent, id=item.id))
    return comments


def check_attributes(requested: list[str] | None, available: Sequence[str]) -> list[str]:
    if requested is None:
        return list(available)
    for i, name in enumerate(requested):
        if name not in available:
            raise InputProblem(f"attributes[{i}]",
                               f"unknown attribute '{name}' (known: {', '.join(available)})")
    return list(dict.fromkeys(requested))


def only(result: ScoreResult, names: list[str]) -> dict:
    """``result`` as a dict restricted to the attributes ``names``."""
    out = result.to_dict()
    out["scores"] = {n: result.scores[n] for n in names}
    out["flags"] = [n for n in result.flags if n in names]
    if result.unscored:
        out["unscored"] = {n: why for n, why in result.unscored.items() if n in names}
    if result.spans is not None:
        out["spans"] = {n: s for n, s in result.spans.items() if n in names}
    return out


def record(session: Session, comments: Sequence[Comment], results: Sequence[ScoreResult], *,
           source: str, key_id: int | None, article_ids: Sequence[str | None] | None = None,
           parent_ids: Sequence[str | None] | None = None,
           community_id: str | None = None) -> None:
    """Store what was scored, with the model version that scored it, in one transaction."""
    article_ids = article_ids or [None] * len(comments)
    parent_ids = parent_ids or [None] * len(comments)
    session.add_all(
        db.ScoredComment(
            external_id=None if c.id is None else str(c.id),
            article_id=article_id,
            parent_id=parent_id,
            text=c.text,
            text_sha256=hashlib.sha256(c.text.encode()).hexdigest(),
            scores=r.scores,
            flags=r.flags,
            model=r.model,
            source=source,
            community_id=community_id,
            key_id=key_id,
        )
        for c, r, article_id, parent_id in zip(comments, results, article_ids, parent_ids,
                                               strict=True)
    )
    session.commit()


def register_article(session: Session, body: ArticleRegistration,
                     settings: Settings) -> tuple[db.Article, bool]:
    """Insert or update article ``body.id``; True when it is new."""
    check_size("text", body.text, settings.max_article_bytes)
    row = session.get(db.Article, body.id)
    created = row is None
    if created:
        row = db.Article(id=body.id)
        session.add(row)
    row.title, row.text, row.url = body.title, body.text, body.url
    session.commit()
    return row, created


# ---- threads ------------------------------------------------------------------------------
def thread_comments(session: Session, body: ThreadRequest,
                    settings: Settings) -> tuple[str | None, list[Comment], list[int]]:
    """Each comment of the thread with the article and its parent as context, and its depth."""
    if len(body.comments) > settings.max_thread_comments:
        raise InputProblem("comments", f"at most {settings.max_thread_comments} per thread",
                           status=413)
    if body.article_id is not None:
        articles = find_articles(session, {body.article_id})
        if body.article_id not in articles:
            raise InputProblem("article_id", f"no article '{body.article_id}' is registered")
        article, article_id = articles[body.article_id], body.article_id
    elif body.article is not None:
        given = body.article
        text = "\n\n".join(p for p in (given.subtitle, given.text or given.body) if p)
        check_size("article.text", text, settings.max_article_bytes)
        article, article_id = Article(title=given.title, text=text), given.id
    else:
        raise InputProblem("article", "a thread needs its article (article or article_id)")
    by_id: dict[str, int] = {}
    for i, c in enumerate(body.comments):
        if c.id in by_id:
            raise InputProblem(f"comments[{i}].id", f"duplicate id '{c.id}'")
        by_id[c.id] = i
        check_size(f"comments[{i}].text", c.text, settings.max_comment_bytes)
    depths: list[int] = []
    for i, c in enumerate(body.comments):
        depth, seen, parent = 0, {c.id}, c.parent_id
        while parent is not None:
            if parent not in by_id:
                raise InputProblem(f"comments[{i}].parent_id",
                                   f"'{parent}' is not a comment of this thread")
            if parent in seen:
                raise InputProblem(f"comments[{i}].parent_id", "replies form a cycle")
            seen.add(parent)
            depth += 1
            parent = body.comments[by_id[parent]].parent_id
        depths.append(depth)
    comments = [
        Comment(text=c.text, article=article, id=c.id,
                parent=body.comments[by_id[c.parent_id]].text if c.parent_id else None)
        for c in body.comments
    ]
    return article_id, comments, depths


def find_drift(body: ThreadRequest, results: Sequence[ScoreResult],
               depths: Sequence[int]) -> tuple[list[ThreadCommentOut], list[Drift]]:
    """Mark where the thread drifts: an off-topic comment whose parent is on topic starts a
    drift; its off-topic replies (and theirs) belong to it."""
    off = {c.id: "off_topic" in r.flags for c, r in zip(body.comments, results, strict=True)}
    parent_of = {c.id: c.parent_id for c in body.comments}
    scores = {c.id: r.scores.get("off_topic") or 0.0
              for c, r in zip(body.comments, results, strict=True)}
    starts = [c.id for c in body.comments
              if off[c.id] and not (c.parent_id and off[c.parent_id])]
    drifts = []
    for start in starts:
        members = []
        for c in body.comments:  # thread order; a member's chain of off-topic parents reaches start
            node = c.id
            while node is not None and off[node] and node != start:
                node = parent_of[node]
            if node == start and off[c.id]:
                members.append(c.id)
        drifts.append(Drift(start=start, comments=members,
                            max_score=max(scores[m] for m in members)))
    out = [
        ThreadCommentOut(**r.to_dict(), parent_id=c.parent_id, depth=d,
                         drift_start=c.id in starts)
        for c, r, d in zip(body.comments, results, depths, strict=True)
    ]
    return out, drifts
