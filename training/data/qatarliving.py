"""Helpers shared by the two SemEval Qatar Living loaders (2015 XML, 2016 CSV).

Both years draw on the same forum and partly the same questions, so both split by the same
question key: a question lands on the same side of the split in either source.
"""

from __future__ import annotations

import html
import re

from training.data.splits import assign_split

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def question_key(text: str) -> str:
    """Punctuation- and case-blind key of a question body (the 2016 CSVs turned ',' into ';')."""
    return _NON_ALNUM.sub("", html.unescape(text).lower().replace(";", ","))[:300]


def split_of(key: str, fraction: float) -> str:
    return assign_split(f"qatarliving:{key}", validation_fraction=fraction)


def demojibake(text: str) -> str:
    """Undo UTF-8 read as Latin-1/cp1252 (``itâ\x80\x99s`` -> ``it's``), up to twice; text
    that does not round-trip is left alone."""
    for _ in range(2):
        if not any("\x80" <= ch <= "\xff" for ch in text):
            break
        for codec in ("latin-1", "cp1252"):
            try:
                text = text.encode(codec).decode("utf-8")
                break
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
        else:
            break
    return text


def clean(text: str | None, *, semicolons: bool = False) -> str:
    """Mojibake fixed, HTML tags and entities removed, spaces collapsed; ``semicolons``: undo
    the 2016 CSV export's comma -> semicolon substitution (real semicolons are rare in posts)."""
    out = _TAG.sub(" ", html.unescape(demojibake(text or ""))).replace("\xa0", " ")
    if semicolons:
        out = out.replace(";", ",")
    out = "\n".join(_SPACE.sub(" ", line).strip() for line in out.splitlines())
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def text_key(text: str) -> str:
    return " ".join(text.lower().split())
