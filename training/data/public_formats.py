"""Readers for the big public sets in their published formats (not in ../shared/datasets; a
user who has them points ``--data-dir`` at them). The registry calls ``load_<source name>``.

* Jigsaw Toxic Comment Classification 2018, ``train.csv``: ``id, comment_text, toxic,
  severe_toxic, obscene, threat, insult, identity_hate`` (0/1; ``-1`` = not scored, in the
  test labels). Texts may carry a second layer of CSV quoting, undone here. Seeded by ``id``.
* Wikipedia Talk Labels: Personal Attacks, ``attack_annotated_comments.tsv`` (``rev_id, comment,
  year, logged_in, ns, sample, split``; newlines and tabs stored as ``NEWLINE_TOKEN`` and
  ``TAB_TOKEN``) and ``attack_annotations.tsv`` (one row per rater: ``rev_id, worker_id,
  quoting_attack, recipient_attack, third_party_attack, other_attack, attack``). The soft label
  is the share of raters voting for it; the published ``split`` column is kept (dev =
  validation) and the test rows are withheld.
* Civil Comments (Jigsaw Unintended Bias), ``train.csv`` with fractional ``target`` (or
  ``all_data.csv`` / TFDS exports with ``toxicity`` and ``text``): the fractions of raters are
  the soft labels directly. Seeded by article (comments on one article stay together), else id;
  rows of a ``test`` split column are withheld.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import (
    clean,
    max_by_attribute,
    mean,
    read_rows,
    split_of,
    text_key,
    to_float,
    unquote_csv_field,
)
from training.records import Record


def _score(row: dict, column: str) -> float | None:
    value = to_float(row.get(column))
    return None if value is None or value < 0 else value  # Jigsaw's -1 = not scored


def load_jigsaw_toxic_2018(data_dir: Path, spec: dict) -> Iterator[Record]:
    for row in read_rows(Path(data_dir) / spec["file"]):
        text = clean(unquote_csv_field(row["comment_text"]))
        labels = max_by_attribute((a, _score(row, c)) for c, a in spec["attributes"].items())
        if text is None or not labels:
            continue
        group = f"jigsaw:{row['id']}"
        yield Record(
            text=text,
            labels=labels,
            source="jigsaw_toxic_2018",
            split=split_of(group, spec),
            group=group,
            meta={"id": row["id"]},
        )


def _rev_id(value: str) -> str:
    return str(int(float(value)))  # some releases write rev ids as floats ("37675.0")


def load_wikipedia_talk_labels(data_dir: Path, spec: dict) -> Iterator[Record]:
    data_dir = Path(data_dir)
    votes: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in read_rows(data_dir / spec["annotations_file"], delimiter="\t"):
        for attribute, columns in spec["attributes"].items():
            # A rater votes for the attribute when any of its columns is 1.
            values = [v for v in (to_float(row.get(c)) for c in columns) if v is not None]
            if values:
                votes[_rev_id(row["rev_id"])][attribute].append(max(values))

    for row in read_rows(data_dir / spec["comments_file"], delimiter="\t"):
        comment = row["comment"]
        for token, replacement in spec["tokens"].items():
            comment = comment.replace(token, replacement)
        text = clean(comment)
        rev_id = _rev_id(row["rev_id"])
        split = spec["splits"].get(row["split"].strip())
        if text is None or split is None or rev_id not in votes:
            continue
        yield Record(
            text=text,
            labels={a: round(mean(v), 4) for a, v in votes[rev_id].items()},
            source="wikipedia_talk_labels",
            split=split,
            group=f"wikipedia_talk:{rev_id}",
            meta={"rev_id": rev_id, "year": row.get("year"), "ns": row.get("ns")},
        )


def load_civil_comments(data_dir: Path, spec: dict) -> Iterator[Record]:
    withheld = set(spec.get("withhold", []))
    for row in read_rows(Path(data_dir) / spec["file"]):
        text = clean(next((row[c] for c in spec["text_columns"] if row.get(c) is not None), None))
        labels = max_by_attribute((a, _score(row, c)) for c, a in spec["attributes"].items())
        if text is None or not labels or (row.get("split") or "").strip() in withheld:
            continue
        article = (row.get("article_id") or "").strip()
        comment_id = (row.get("id") or "").strip() or text_key(text)  # TFDS exports have no id
        group = f"civil_comments_article:{article}" if article else f"civil_comments:{comment_id}"
        yield Record(
            text=text,
            labels={a: round(v, 4) for a, v in labels.items()},
            source="civil_comments",
            split=split_of(group, spec),
            group=group,
            meta={"id": comment_id, "parent_id": row.get("parent_id") or None},
        )
