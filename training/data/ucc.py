"""Unhealthy Comments Corpus (Price et al., 2020): Globe and Mail news comments.

Only UCC's own validation file (``val.csv``) is here (its test file is withheld), so it is split
again, seeded by comment (``_unit_id``; the corpus keeps no article or thread ids).
Each attribute column holds the aggregated 0/1 label and ``<column>:confidence`` the
trust-weighted share of raters who agreed with it; the soft target is therefore
P(attribute) = confidence when the label is 1 and 1 - confidence when it is 0. A confidence of 0
means nobody answered that question (``generalisation_unfair`` is only asked of raters who saw a
generalisation), so the 0/1 label is used as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, read_rows, split_of, to_float
from training.records import Record


def _probability(row: dict, column: str) -> float | None:
    """P(column is 1) from the label and its confidence."""
    label = to_float(row.get(column))
    if label is None:
        return None
    confidence = to_float(row.get(f"{column}:confidence"))
    if not confidence:
        return label
    return confidence if label >= 0.5 else 1.0 - confidence


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    unanimous = spec.get("unanimous_healthy") or {}
    for row in read_rows(Path(data_dir) / spec["file"]):
        text = clean(row[spec["text_column"]])
        if text is None:
            continue
        labels: dict[str, float] = {}
        for column, attribute in spec["attributes"].items():
            probability = _probability(row, column)
            if probability is not None:
                labels[attribute] = round(probability, 4)
        for column, attribute in spec.get("inverted", {}).items():
            probability = _probability(row, column)
            if probability is not None:
                labels[attribute] = round(1.0 - probability, 4)
        if unanimous and _probability(row, unanimous["column"]) == 1.0:
            labels.update({a: float(v) for a, v in unanimous.get("labels", {}).items()})
        group = f"ucc:{row[spec['id_column']]}"
        yield Record(
            text=text,
            labels=labels,
            source="ucc",
            split=split_of(group, spec),
            group=group,
            meta={"trusted_judgments": row.get("_trusted_judgments")},
        )
