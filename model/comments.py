"""The scorer's plain types: comments with their context, results, spans (no torch here, so the
service and any runtime form can use them without loading PyTorch)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

NO_CONTEXT = "no article or parent given"


@dataclass(frozen=True)
class Article:
    title: str = ""
    text: str = ""

    @property
    def content(self) -> str:
        return "\n".join(part for part in (self.title, self.text) if part)


@dataclass(frozen=True)
class Comment:
    """A comment to score, with optional context: the article and the parent it replies to."""

    text: str
    article: Article | None = None
    parent: str | None = None
    id: str | int | None = None

    def __post_init__(self) -> None:
        # blank context is no context, wherever the comment was built (``has_context`` and the
        # off_topic "unscored" answer follow from these two fields)
        if self.article is not None and not self.article.content.strip():
            object.__setattr__(self, "article", None)
        if self.parent is not None and not self.parent.strip():
            object.__setattr__(self, "parent", None)

    @property
    def has_context(self) -> bool:
        return self.article is not None or self.parent is not None

    @classmethod
    def coerce(cls, item: str | Comment | Mapping) -> Comment:
        """Accept a string, a ``Comment`` or a mapping with ``text``/``article``/``parent``."""
        if isinstance(item, Comment):
            return item
        if isinstance(item, str):
            return cls(text=item)
        if not isinstance(item, Mapping):
            raise TypeError(f"a comment is a str, Comment or mapping, not {type(item).__name__}")
        text = item.get("text")
        if not isinstance(text, str):
            raise ValueError("field 'text' is required and must be a string")
        article = item.get("article")
        if isinstance(article, Mapping):
            for part in ("title", "text"):
                if not isinstance(article.get(part) or "", str):
                    raise ValueError(f"field 'article.{part}' must be a string")
            article = Article(title=article.get("title") or "", text=article.get("text") or "")
        elif article is not None and not isinstance(article, Article):
            raise ValueError("field 'article' must be an object with 'title' and/or 'text'")
        parent = item.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise ValueError("field 'parent' must be a string")
        return cls(text=text, article=article, parent=parent, id=item.get("id"))


@dataclass
class ScoreResult:
    """Calibrated probabilities per attribute (``None`` where not scorable), flags crossing the
    artifact's thresholds, and (when asked) character spans into the original text."""

    scores: dict[str, float | None]
    flags: list[str]
    model: str
    id: str | int | None = None
    unscored: dict[str, str] = field(default_factory=dict)
    spans: dict[str, list[list[int]]] | None = None

    def to_dict(self) -> dict:
        out = {"id": self.id, "scores": self.scores, "flags": self.flags, "model": self.model}
        if self.unscored:
            out["unscored"] = self.unscored
        if self.spans is not None:
            out["spans"] = self.spans
        return out


def char_spans(row: dict, *, threshold: float) -> list[list[int]]:
    """Tokens whose span probability reaches ``threshold``, merged when adjacent (a gap of at
    most one character), as ``[start, end)`` offsets into the original text (with the combining
    marks of a token's last character when ``row`` has the original ``text``)."""
    index = row["index"]
    text = row.get("text")
    spans: list[list[int]] = []
    for p, (start, end) in zip(row["span_probs"].tolist(), row["offsets"], strict=True):
        if end <= start or p < threshold:
            continue
        begin, finish = index[start], index[end - 1] + 1
        if text is not None:  # e + U+0301 was normalised as one character: keep the mark
            while finish < len(text) and unicodedata.category(text[finish]).startswith("M"):
                finish += 1
        if spans and begin - spans[-1][1] <= 1:
            spans[-1][1] = finish
        else:
            spans.append([begin, finish])
    return spans
