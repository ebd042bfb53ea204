"""Impermium "Detecting Insults in Social Commentary" (Kaggle, 2012): forum and news comments.

``train.csv`` has ``Insult`` (1 = an insult aimed at a participant of the conversation; insults of
public figures are labelled 0), ``Date`` and ``Comment``. Comments are stored as Python-escaped
string literals wrapped in quotes (``"i really\\xa0 don't\\n..."``), often with UTF-8 bytes
escaped one by one (``\\xc2\\xa0``); both are decoded here. The file has no split and no post
ids: each comment is its own post, so the split is seeded by a hash of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, labels_for, read_rows, split_of, text_key
from training.records import Record

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[nrt\\'\"])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
# A UTF-8 multi-byte sequence whose bytes were each decoded as a Latin-1 character.
_MOJIBAKE = re.compile(
    r"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    if code in _SIMPLE:
        return _SIMPLE[code]
    return chr(int(code[1:], 16))


def _repair(match: re.Match) -> str:
    try:
        return match.group(0).encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:  # genuine Latin-1 text that only looks like UTF-8 bytes
        return match.group(0)


def decode_comment(raw: str) -> str:
    """Turn the stored literal into the text a reader saw."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return _MOJIBAKE.sub(_repair, _ESCAPE.sub(_unescape, raw))


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    for row in read_rows(Path(data_dir) / spec["file"]):
        text = clean(decode_comment(row[spec["text_column"]]))
        labels = labels_for(spec["labels"], row[spec["label_column"]].strip())
        if text is None or labels is None:
            continue
        group = f"kaggle_insults:{text_key(text)}"
        yield Record(
            text=text,
            labels=labels,
            source="kaggle_insults",
            split=split_of(group, spec),
            group=group,
            meta={"date": row.get("Date") or None},
        )
