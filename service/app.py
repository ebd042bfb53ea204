"""The HTTP scoring service: FastAPI app, model loaded once in ``lifespan``."""

from __future__ import annotations

import hashlib
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from model.artifact import ArtifactError, check_directory
from model.scorer import Article, Comment, Scorer
from service.db import ScoredComment, make_engine
from service.settings import Settings, get_settings


class ArticleIn(BaseModel):
    title: str = ""
    text: str = ""


class CommentIn(BaseModel):
    text: str = Field(min_length=1, description="the comment to score")
    id: str | None = None
    article: ArticleIn | None = None
    parent: str | None = None


class ScoreRequest(BaseModel):
    comments: list[CommentIn] = Field(min_length=1)
    spans: bool = False


class ScoreOut(BaseModel):
    id: str | None
    scores: dict[str, float | None]
    flags: list[str]
    model: str
    unscored: dict[str, str] = {}
    spans: dict[str, list[list[int]]] | None = None


class ScoreResponse(BaseModel):
    results: list[ScoreOut]


def get_scorer(request: Request) -> Scorer:
    return request.app.state.scorer


def get_session(request: Request):
    with Session(request.app.state.engine) as session:
        yield session


ScorerDep = Annotated[Scorer, Depends(get_scorer)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            app.state.scorer = Scorer.from_pretrained(settings.model_dir)
        except ArtifactError as error:
            raise RuntimeError(f"cannot start: {error}") from None
        app.state.engine = make_engine(settings.database_url)
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="Civility",
        version="0.1.0",
        lifespan=lifespan,
        description="Scores comments for incivility, personal attacks and off-topic drift.",
    )
    app.dependency_overrides[get_settings] = lambda: settings

    @app.get("/health")
    def health(scorer: ScorerDep) -> dict:
        """Liveness and the model version being served."""
        return {"status": "ok", "model": scorer.config.tag}

    @app.post("/v1/score", response_model=ScoreResponse)
    def score(
        body: ScoreRequest, scorer: ScorerDep, session: SessionDep, config: SettingsDep
    ) -> ScoreResponse:
        """Score up to ``max_batch`` comments, each with optional article and parent."""
        if len(body.comments) > config.max_batch:
            raise HTTPException(413, f"comments: at most {config.max_batch} per request")
        for i, c in enumerate(body.comments):
            if len(c.text) > config.max_text_chars:
                raise HTTPException(413, f"comments[{i}].text: over {config.max_text_chars} chars")
        comments = [
            Comment(
                text=c.text,
                id=c.id,
                parent=c.parent,
                article=Article(c.article.title, c.article.text) if c.article else None,
            )
            for c in body.comments
        ]
        results = scorer.score(comments, spans=body.spans, batch_size=config.batch_size)
        session.add_all(
            ScoredComment(
                external_id=r.id,
                text_sha256=hashlib.sha256(c.text.encode()).hexdigest(),
                scores=r.scores,
                flags=r.flags,
                model=r.model,
            )
            for c, r in zip(comments, results, strict=True)
        )
        session.commit()
        return ScoreResponse(results=[ScoreOut(**r.to_dict()) for r in results])

    return app


def serve(*, host: str, port: int, model: str | None, database: str | None) -> None:
    """Run the service with uvicorn (``civility serve``)."""
    import uvicorn

    overrides = {k: v for k, v in (("model_dir", model), ("database_url", database)) if v}
    settings = Settings(**overrides)
    check_directory(Path(settings.model_dir))  # fail before binding the port, with the reason
    uvicorn.run(create_app(settings), host=host, port=port)
