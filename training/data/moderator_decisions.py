"""Moderator decisions exported by the Civility service: the operator's own labelled data.

Format (the service writes it; one or more ``*.jsonl`` files in the source folder, UTF-8, one
JSON object per line, blank lines ignored)::

    {"comment_id": "c-123",                 # str, required, non-empty
     "text": "the comment as posted",       # str, required
     "article": {"title": "...", "text": "..."} | null,   # what the comment was posted under
     "parent": "text of the comment replied to" | null,
     "decision": "approve" | "reject",
     "reason": "incivility" | "personal_attack" | "off_topic" | "spam" | "hate" | "other"
               | null,                      # rejections only (the service's reasons; Coral's
                                            # offensive, abusive, harassment, hate_speech and
                                            # irrelevant are accepted too)
     "labels": {"<attribute>": 0 | 1} | null,   # explicit per-attribute labels; they win
     "moderator": "moderator id",           # str, required
     "decided_at": "2024-05-01T12:00:00Z",  # ISO 8601; naive times are taken as UTC
     "model": "civility-minilm 0.1.0" | null}   # the model whose scores the moderator saw

The attribute labels of an approval and of each rejection reason come from the YAML; context
attributes (off_topic) are only labelled when an article or parent is given. Other fields (the
service writes ``note``, ``scores``, ``source``) are ignored. When a comment was
decided more than once, the latest ``decided_at`` wins. Decisions that end up with no labels
(spam, other) are skipped. A malformed line raises ``ValueError`` naming the file and line.
Split: seeded by comment id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from model.attributes import CONTEXT_ATTRIBUTES, NAMES
from training.data.labelled import clean, split_of
from training.records import Record

DECISIONS = ("approve", "reject")
REASONS = (
    "incivility", "personal_attack", "off_topic", "spam", "hate", "other",  # Civility's queue
    "offensive", "abusive", "harassment", "hate_speech", "irrelevant",  # Coral's words
)


def _optional_str(value, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or null")
    return value


def _parse(line: str) -> dict:
    """Validate one decision; raises ``ValueError`` with a message saying what is wrong."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON ({error.msg})") from None
    if not isinstance(item, dict):
        raise ValueError("a decision must be a JSON object")
    for key in ("comment_id", "text", "moderator"):
        if not isinstance(item.get(key), str) or (key != "text" and not item[key].strip()):
            raise ValueError(f"{key} must be a non-empty string")
    if item.get("decision") not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, got {item.get('decision')!r}")
    reason = item.get("reason")
    if reason is not None and (reason not in REASONS or item["decision"] != "reject"):
        raise ValueError(
            f"reason must be null or, for a rejection, one of {REASONS}; got {reason!r}"
        )
    article = item.get("article")
    if article is not None:
        if not isinstance(article, dict):
            raise ValueError("article must be an object with title and text, or null")
        _optional_str(article.get("title"), "article.title")
        _optional_str(article.get("text"), "article.text")
    _optional_str(item.get("parent"), "parent")
    _optional_str(item.get("model"), "model")
    labels = item.get("labels") or {}
    if not isinstance(labels, dict):
        raise ValueError("labels must be an object or null")
    for attribute, value in labels.items():
        if attribute not in NAMES:
            raise ValueError(f"labels: unknown attribute {attribute!r}")
        if isinstance(value, bool) or value not in (0, 1):
            raise ValueError(f"labels: {attribute} must be 0 or 1, got {value!r}")
    try:
        decided_at = datetime.fromisoformat(str(item.get("decided_at")))
    except ValueError:
        raise ValueError(f"decided_at must be ISO 8601, got {item.get('decided_at')!r}") from None
    item["_decided_at"] = decided_at if decided_at.tzinfo else decided_at.replace(tzinfo=UTC)
    return item


def read_decisions(data_dir: Path, pattern: str = "*.jsonl") -> dict[str, dict]:
    """The latest valid decision of each comment id, from every matching file."""
    latest: dict[str, dict] = {}
    for path in sorted(Path(data_dir).glob(pattern)):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = _parse(line)
                except ValueError as error:
                    raise ValueError(f"{path.name} line {number}: {error}") from None
                previous = latest.get(item["comment_id"])
                if previous is None or item["_decided_at"] >= previous["_decided_at"]:
                    latest[item["comment_id"]] = item
    return latest


def _labels(item: dict, spec: dict, has_context: bool) -> dict[str, float]:
    if item["decision"] == "approve":
        labels = dict(spec["approve"])
        if has_context:
            labels.update(spec.get("approve_with_context", {}))
    else:
        reason = item.get("reason")
        labels = dict(spec["reasons"].get(reason, {}) if reason else spec.get("no_reason", {}))
    labels.update(item.get("labels") or {})  # the moderator's explicit labels win
    if not has_context:  # off_topic means nothing without an article or parent
        labels = {a: v for a, v in labels.items() if a not in CONTEXT_ATTRIBUTES}
    return {a: float(v) for a, v in labels.items()}


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    for comment_id, item in read_decisions(data_dir, spec.get("pattern", "*.jsonl")).items():
        article = item.get("article") or {}
        title, article_text = clean(article.get("title")), clean(article.get("text"))
        parent = clean(item.get("parent"))
        text = clean(item["text"])
        labels = _labels(item, spec, bool(title or article_text or parent))
        if text is None or not labels:
            continue
        group = f"moderation:{comment_id}"
        yield Record(
            text=text,
            labels=labels,
            source="moderator_decisions",
            split=split_of(group, spec),
            article_title=title,
            article_text=article_text,
            parent=parent,
            group=group,
            meta={
                k: item.get(k)
                for k in ("comment_id", "decision", "reason", "moderator", "decided_at", "model")
            },
        )
