"""Reading comment files for ``civility score`` and ``civility evaluate`` (JSONL or CSV).

Each record: ``text`` (required), optional ``id``, optional ``article`` object with
``title``/``text`` (CSV: ``article_title``, ``article_text``), optional ``parent``; for
evaluation also ``labels`` (attribute -> 0/1, CSV: one column per attribute) and
``span_chars`` (toxic character offsets; CSV: a JSON list). Extra fields are ignored.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from model.attributes import NAMES
from model.comments import Comment


class InputError(ValueError):
    """A malformed input record; the message names the line and the field."""


@dataclass
class InputRecord:
    line: int
    comment: Comment
    labels: dict[str, float] | None = None
    span_chars: list[int] | None = None


def read_records(path: Path, *, skip_bad: bool = False, warn=None) -> Iterator[InputRecord]:
    """Yield records in file order; a bad one raises ``InputError`` (or is skipped with a
    warning under ``skip_bad``)."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".json"):
        raise InputError(f"input must be .jsonl or .csv, not {suffix or 'no extension'}")
    raw = _jsonl_rows(path) if suffix != ".csv" else _csv_rows(path)
    for line, row in raw:
        try:
            if isinstance(row, Exception):
                raise row
            yield _parse(line, row)
        except InputError as error:
            if not skip_bad:
                raise
            if warn:
                warn(f"skipping {error}")


def _jsonl_rows(path: Path):
    with path.open(encoding="utf-8-sig") as handle:  # -sig: tolerate a byte order mark
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                yield line, InputError(f"line {line}: invalid JSON ({error.msg})")
                continue
            yield line, row


def _csv_rows(path: Path):
    with path.open(encoding="utf-8-sig", newline="") as handle:  # spreadsheet exports have a BOM
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise InputError("CSV needs a 'text' column")
        for row in reader:
            line = reader.line_num
            out: dict = {"text": row.get("text"), "id": row.get("id") or None,
                         "parent": row.get("parent") or None}
            if row.get("article_title") or row.get("article_text"):
                out["article"] = {"title": row.get("article_title") or "",
                                  "text": row.get("article_text") or ""}
            labels = {n: row[n] for n in NAMES if row.get(n) not in (None, "")}
            if labels:
                out["labels"] = labels
            if row.get("span_chars"):
                try:
                    out["span_chars"] = json.loads(row["span_chars"])
                except json.JSONDecodeError:
                    yield line, InputError(f"line {line}: field 'span_chars' is not a JSON list")
                    continue
            yield line, out


def _parse(line: int, row) -> InputRecord:
    if not isinstance(row, dict):
        raise InputError(f"line {line}: a record must be a JSON object")
    try:
        comment = Comment.coerce(row)
    except (ValueError, TypeError) as error:
        raise InputError(f"line {line}: {error}") from None
    if not comment.text.strip():
        raise InputError(f"line {line}: field 'text' is empty")
    labels = row.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            raise InputError(f"line {line}: field 'labels' must be an object")
        parsed = {}
        for name, value in labels.items():
            if name not in NAMES:
                continue
            try:
                parsed[name] = float(value)
            except (TypeError, ValueError):
                raise InputError(f"line {line}: labels.{name} must be 0 or 1") from None
            if not 0.0 <= parsed[name] <= 1.0:
                raise InputError(f"line {line}: labels.{name} must be between 0 and 1")
        labels = parsed
    spans = row.get("span_chars")
    if spans is not None and (
        not isinstance(spans, list) or not all(isinstance(c, int) for c in spans)
    ):
        raise InputError(f"line {line}: field 'span_chars' must be a list of integers")
    return InputRecord(line=line, comment=comment, labels=labels, span_chars=spans)
