"""Request and response shapes of the ingestion and moderation API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Reason = Literal["incivility", "personal_attack", "off_topic", "spam", "hate", "other"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorIn(_In):
    id: str = Field(min_length=1, max_length=200, description="the publisher's author id")
    name: str = Field("", max_length=200, description="display name")


class IngestComment(_In):
    id: str = Field(min_length=1, max_length=200, description="the publisher's comment id")
    article_id: str | None = Field(None, max_length=200, description="a registered article")
    parent_id: str | None = Field(None, max_length=200,
                                  description="the comment this replies to (ingested)")
    author: AuthorIn
    text: str = Field(min_length=1)
    time: dt.datetime | None = Field(None, description="when it was posted (default: now)")

    @model_validator(mode="after")
    def _not_blank(self) -> IngestComment:
        if not self.text.strip():
            raise ValueError("text: must not be empty or only whitespace")
        return self


class IngestRequest(_In):
    comments: list[IngestComment] = Field(min_length=1, description="one or more comments")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comments": [
        {"id": "c-1001", "article_id": "a-1", "parent_id": None,
         "author": {"id": "u-7", "name": "Sam"}, "text": "You clearly didn't read it.",
         "time": "2026-11-25T10:00:00Z"},
    ]}]})


class IngestedOut(BaseModel):
    comment_id: str
    created: bool = Field(description="false: this id was ingested before (nothing changed)")
    status: str
    scores: dict[str, float | None] | None
    flags: list[str]
    model: str | None
    risk: float | None
    rule: str | None


class IngestResponse(BaseModel):
    items: list[IngestedOut]
    created: int


def _reason(value: str | None) -> str | None:
    """'personal attack', 'Personal-Attack' and 'personal_attack' are the same reason."""
    return None if value is None else value.strip().lower().replace(" ", "_").replace("-", "_")


class DecideRequest(_In):
    comment_id: str = Field(min_length=1, max_length=200)
    decision: Literal["approve", "reject"]
    reason: Reason | None = Field(None, description="required for a rejection")
    note: str | None = Field(None, max_length=2000)
    version: int | None = Field(None, description="the version you saw; required to change "
                                                  "a decision already made")

    _normal_reason = field_validator("reason", mode="before")(_reason)


class BulkDecideRequest(_In):
    comment_ids: list[str] = Field(min_length=1, max_length=500)
    decision: Literal["approve", "reject"]
    reason: Reason | None = None
    note: str | None = Field(None, max_length=2000)

    _normal_reason = field_validator("reason", mode="before")(_reason)


class CommentRef(_In):
    comment_id: str = Field(min_length=1, max_length=200)
    version: int | None = Field(None, description="for undo: the version you saw")


class QueueList(BaseModel):
    items: list[dict]
    count: int = Field(description="comments in this queue under these filters")
    queue: str
    sort: str


class DecisionResult(BaseModel):
    decision: dict
    item: dict


class BulkResult(BaseModel):
    results: list[dict] = Field(description="per comment: ok, or the error")
    decided: int
    failed: int
