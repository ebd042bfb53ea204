"""SemEval-2016 Task 3 (Qatar Living forum) relevance pairs, as cleaned CSVs (``feature``, ...).

* subtask A (``feature`` = question subject, ``question`` = its body, ``answer`` = a comment of
  that question's own thread, ``labels`` Good/PotentiallyUseful/Bad);
* subtask B (``feature`` = original subject + " " + related subject, ``question`` = original
  body, ``rel_question`` = related body, PerfectMatch/Relevant/Irrelevant);
* subtask C (``feature``/``question`` = an ORIGINAL question, ``answer`` = a comment taken from a
  related question's thread, judged against the original).

The question becomes the article (subject -> ``article_title``, body -> ``article_text``); the
comment (A, C) or the related question (B) is the text. Graded labels -> soft ``off_topic``
targets from the spec (see configs/labels.yaml for the values and why).

Splits: the upstream file names (val/train) are ignored; the A, B-val and C files all hang off
the same 50 original questions, and a related question can belong to several originals. Every
row belongs to one original question (A rows: the original their question is related to, from
the B files) and goes to that question's seeded split; then train rows that mention a
validation question (as article or as text) or repeat a validation comment are dropped, so no
question or comment is on both sides.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from training.data.qatarliving import clean, question_key, split_of, text_key
from training.records import Record

log = logging.getLogger(__name__)

DEFAULT_FILES = {
    "A": ["subtaskA_val.csv"],
    "B": ["subtaskB_train.csv", "subtaskB_val.csv"],
    "C": ["subtaskC_val.csv"],
}
DEFAULT_LABELS = {
    "A": {"Good": 0.0, "PotentiallyUseful": 0.0, "Bad": 0.3},
    "B": {"PerfectMatch": 0.0, "Relevant": 0.0, "Irrelevant": 0.7},
    "C": {"Good": 0.0, "PotentiallyUseful": 0.0, "Bad": 0.7},
}
DEFAULT_WEIGHTS = {"A": 1.0, "B": 0.5, "C": 1.0}


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"feature", "question", "labels"} <= set(rows[0]):
        raise ValueError(f"{path}: expected columns feature, question, ..., labels")
    return rows


def _prefix_subject(features: list[str]) -> str | None:
    """The original's subject from B's ``feature`` = "<original> <related>" over its rows:
    their longest common prefix, cut back to a word boundary."""
    if len(set(features)) < 2:
        return None
    prefix = os.path.commonprefix(features)
    if not prefix.endswith(" "):
        prefix = prefix.rsplit(" ", 1)[0] if " " in prefix else ""
    return prefix.strip() or None


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    """Yield off_topic records for subtasks A, B and C (whichever of their files exist)."""
    files = {**DEFAULT_FILES, **spec.get("files", {})}
    labels = {task: {**DEFAULT_LABELS[task], **spec.get("labels", {}).get(task, {})}
              for task in DEFAULT_LABELS}
    weights = {**DEFAULT_WEIGHTS, **spec.get("weights", {})}
    fraction = float(spec.get("validation_fraction", 0.2))
    tables: dict[str, list[dict]] = {}
    for task, names in files.items():
        for name in [names] if isinstance(names, str) else names:
            path = Path(data_dir) / name
            if path.exists():
                tables.setdefault(task, []).extend(_read(path))
            else:
                log.warning("semeval2016_cqa: %s not found, skipped", path)
    if not tables:
        raise FileNotFoundError(f"semeval2016_cqa: none of {files} in {data_dir}")

    owners: dict[str, set[str]] = {}  # related question -> the originals it was retrieved for
    b_features: dict[str, list[str]] = {}
    for row in tables.get("B", []):
        owners.setdefault(question_key(row["rel_question"]), set()).add(
            question_key(row["question"]))
        b_features.setdefault(question_key(row["question"]), []).append(row["feature"])
    subjects = {question_key(r["question"]): r["feature"] for r in tables.get("C", [])}
    subjects.update({question_key(r["question"]): r["feature"] for r in tables.get("A", [])})

    records: list[Record] = []
    unknown = 0
    for task in ("A", "B", "C"):
        for row in tables.get(task, []):
            value = labels[task].get(row["labels"].strip())
            if value is None:
                unknown += 1
                continue
            article_key = question_key(row["question"])
            title = subjects.get(article_key)
            if task == "B" and title is None:
                title = _prefix_subject(b_features[article_key])
            meta = {"subtask": task, "label": row["labels"].strip(), "article_key": article_key}
            if task == "B":
                related = question_key(row["rel_question"])
                subject = subjects.get(related)
                if subject is None and title and row["feature"].startswith(title + " "):
                    subject = row["feature"][len(title) + 1:]
                body = clean(row["rel_question"], semicolons=True)
                text = "\n".join(p for p in (clean(subject, semicolons=True), body) if p)
                owner = article_key
                meta["text_key"] = related
            else:
                text = clean(row["answer"], semicolons=True)
                owner = min(owners.get(article_key, {article_key}))
            if not text:
                continue
            records.append(Record(
                text=text,
                labels={"off_topic": value},
                source="semeval2016_cqa",
                split=split_of(owner, fraction),
                article_title=clean(title, semicolons=True) or None,
                article_text=clean(row["question"], semicolons=True) or None,
                group=f"qatarliving:{article_key}",
                weight=float(weights[task]),
                meta=meta,
            ))
    if unknown:
        log.warning("semeval2016_cqa: %d rows with unknown labels skipped", unknown)
    yield from isolate_questions(records, "semeval2016_cqa")


def isolate_questions(records: list[Record], name: str) -> list[Record]:
    """Drop train records that mention a validation question or repeat a validation comment."""
    held = [r for r in records if r.split == "validation"]
    questions = {r.meta["article_key"] for r in held} | {
        r.meta["text_key"] for r in held if "text_key" in r.meta}
    comments = {text_key(r.text) for r in held}
    kept = [r for r in records if r.split == "validation" or not (
        r.meta["article_key"] in questions or r.meta.get("text_key") in questions
        or text_key(r.text) in comments)]
    if len(kept) < len(records):
        log.info("%s: %d train rows dropped (they mention validation questions/comments)",
                 name, len(records) - len(kept))
    return kept
