"""Small helpers shared by the labelled-source adapters (CSV/TSV reading, text clean-up,
split groups, soft labels), so that each adapter is only its source's mapping."""

from __future__ import annotations

import csv
import hashlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from training.data.splits import assign_split

# Some sources hold whole talk-page threads in one field: lift csv's 128 KiB field limit.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def read_rows(
    path: Path, *, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> Iterator[dict]:
    """Yield each row of a delimited file with a header as a dict (BOM-safe UTF-8)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        yield from csv.DictReader(handle, delimiter=delimiter, quoting=quoting)


def clean(text: str | None) -> str | None:
    """The raw text with surrounding whitespace removed, or ``None`` when nothing is left."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def text_key(text: str) -> str:
    """A stable short id for a text (sources without ids: one comment = one group)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def split_of(group: str, spec: Mapping) -> str:
    """Seeded split by ``group``; ``validation_fraction`` in the spec overrides the 20% default."""
    return assign_split(group, validation_fraction=float(spec.get("validation_fraction", 0.2)))


def to_float(value: str | float | None) -> float | None:
    """Parse a numeric cell; blank cells (the source says nothing) give ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def mean(votes: Iterable[float]) -> float | None:
    """Mean of rater votes (the soft label), or ``None`` when nobody voted."""
    votes = list(votes)
    return sum(votes) / len(votes) if votes else None


def max_by_attribute(pairs: Iterable[tuple[str, float | None]]) -> dict[str, float]:
    """Fold ``(attribute, value)`` pairs into labels, several columns of one attribute taking the
    highest value (e.g. Jigsaw ``toxic`` and ``severe_toxic`` both mean incivility)."""
    labels: dict[str, float] = {}
    for attribute, value in pairs:
        if attribute is None or value is None:
            continue
        labels[attribute] = max(labels.get(attribute, 0.0), clip01(value))
    return labels


def labels_for(table: Mapping, key: str) -> dict[str, float] | None:
    """Look up a ``value -> {attribute: target}`` table from the YAML; ``None`` if not listed."""
    entry = table.get(key)
    if entry is None:
        return None
    return {attribute: float(value) for attribute, value in entry.items()}


def shift_spans(raw: str, spans: Iterable[int]) -> list[int]:
    """Character offsets into ``raw`` re-based onto ``raw.strip()``, dropping stripped chars."""
    offset = len(raw) - len(raw.lstrip())
    length = len(raw.strip())
    return sorted({s - offset for s in spans if 0 <= s - offset < length})


def unquote_csv_field(text: str) -> str:
    """Undo a second layer of CSV quoting (a text opened by a quote, closed by one unless it was
    truncated, with every inner quote doubled), which some Jigsaw exports left in the comment
    text; anything else is returned unchanged."""
    if not text.startswith('"'):
        return text
    inner = text[1:-1] if len(text) >= 2 and text.endswith('"') else text[1:]
    if '"' in inner.replace('""', ""):
        return text
    return inner.replace('""', '"')
