"""Request and response shapes of the native API (separate from the database tables)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ArticleIn(_In):
    title: str = ""
    text: str = ""


class CommentIn(_In):
    text: str = Field(min_length=1, description="the comment to score")
    id: str | None = Field(None, max_length=200, description="your id, echoed back")
    article: ArticleIn | None = Field(None, description="the article, given inline")
    article_id: str | None = Field(None, description="or the id of an article registered earlier")
    parent: str | None = Field(None, description="the text of the comment this one replies to")
    parent_id: str | None = Field(None, description="or the id of a comment scored earlier")

    @model_validator(mode="after")
    def _one_source_each(self) -> CommentIn:
        if not self.text.strip():
            raise ValueError("text: must not be empty or only whitespace")
        if self.article is not None and self.article_id is not None:
            raise ValueError("give article or article_id, not both")
        if self.parent is not None and self.parent_id is not None:
            raise ValueError("give parent or parent_id, not both")
        return self


class ScoreRequest(_In):
    comments: list[CommentIn] = Field(min_length=1, description="one or more comments")
    spans: bool = Field(False, description="add character spans per attribute")
    attributes: list[str] | None = Field(None, description="only these attributes (default all)")
    store: bool = Field(True, description="false = keep nothing of these comments")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "comments": [
                {"id": "c1", "text": "You clearly didn't read the article, genius.",
                 "article": {"title": "Coalition talks collapse"}, "parent": "Good analysis."},
                {"id": "c2", "text": "Thanks, that's a fair point.", "article_id": "a-1"},
            ],
            "spans": True,
        }]},
    )


class ScoreOut(BaseModel):
    id: str | int | None = None
    scores: dict[str, float | None]
    flags: list[str]
    model: str
    unscored: dict[str, str] = {}
    spans: dict[str, list[list[int]]] | None = None


class ScoreResponse(BaseModel):
    results: list[ScoreOut]
    model: str


class ArticleRegistration(_In):
    id: str = Field(min_length=1, max_length=200)
    title: str = ""
    text: str = ""
    url: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _has_content(self) -> ArticleRegistration:
        if not (self.title.strip() or self.text.strip()):
            raise ValueError("title or text: an article needs one of them")
        return self


class ArticleOut(BaseModel):
    id: str
    title: str
    text: str
    url: str | None
    created: bool = False


class ThreadComment(BaseModel):
    model_config = ConfigDict(extra="ignore")  # thread exports carry labels, depth, ...

    id: str = Field(min_length=1, max_length=200)
    parent_id: str | None = None
    text: str = Field(min_length=1)
    author: str | dict | None = None

    @model_validator(mode="after")
    def _not_blank(self) -> ThreadComment:
        if not self.text.strip():
            raise ValueError("text: must not be empty or only whitespace")
        return self


class ThreadArticle(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    title: str = ""
    subtitle: str = ""
    text: str = Field("", description="the article text (``body`` is accepted too)")
    body: str = ""
    url: str | None = None


class ThreadRequest(_In):
    article: ThreadArticle | None = None
    article_id: str | None = None
    comments: list[ThreadComment] = Field(min_length=1)
    spans: bool = False
    store: bool = True

    model_config = ConfigDict(extra="ignore")  # a thread export may carry more fields


class ThreadCommentOut(ScoreOut):
    parent_id: str | None = None
    depth: int = 0
    drift_start: bool = Field(False, description="off topic while its parent is not")


class Drift(BaseModel):
    start: str = Field(description="the first off-topic comment of the branch")
    comments: list[str] = Field(description="it and its off-topic replies, in thread order")
    max_score: float


class ThreadResponse(BaseModel):
    article_id: str | None
    model: str
    results: list[ThreadCommentOut]
    drift: list[Drift]


class KeyCreate(_In):
    role: str
    name: str = ""


class KeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    key: str | None = None
    revoked: bool = False
