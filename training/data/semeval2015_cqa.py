"""SemEval-2015 Task 3 (Qatar Living forum, English): questions with their comment threads.

XML: ``<Question QID QCATEGORY ...><QSubject/><QBody/><Comment CID CGOLD ...><CSubject/>
<CBody/></Comment>...</Question>``. The gold labels are either in ``CGOLD`` (the full training
release) or, for the ``-input.xml`` files, ``CGOLD="?"`` plus a gold file of ``CID<TAB>label``
lines. Only the 300-question development set is in ../shared.

The question (subject, body) is the article; each comment (its body: ``CSubject`` is mostly the
first words of the body, auto-filled) is the text, with a soft ``off_topic`` target from the spec
(see configs/labels.yaml). "Not English" and "Other" are skipped. There is no reply structure,
so comments have no parent. Split by question, with the same key as the 2016 loader so a question
present in both years lands on the same side.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

from training.data.qatarliving import clean, question_key, split_of
from training.data.semeval_cqa import isolate_questions
from training.records import Record

log = logging.getLogger(__name__)

DEFAULT_FILES = [["CQA-QL-devel-input.xml", "CQA-QL-devel-gold.txt"]]
DEFAULT_LABELS = {"Good": 0.0, "Potential": 0.0, "Bad": 0.6, "Dialogue": 0.2}


def read_gold(path: Path) -> dict[str, str]:
    gold = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            cid, sep, label = line.rstrip("\n").partition("\t")
            if not sep:
                raise ValueError(f"{path}:{number}: expected CID<TAB>label")
            gold[cid.strip()] = label.strip()
    return gold


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    """Yield one record per labelled English comment, its question as the article."""
    labels = {**DEFAULT_LABELS, **spec.get("labels", {})}
    fraction = float(spec.get("validation_fraction", 0.2))
    records: list[Record] = []
    skipped: dict[str, int] = {}
    for xml_name, gold_name in spec.get("files", DEFAULT_FILES):
        xml_path = Path(data_dir) / xml_name
        gold = read_gold(Path(data_dir) / gold_name) if gold_name else {}
        root = ElementTree.parse(xml_path).getroot()
        for question in root.iter("Question"):
            body = clean(question.findtext("QBody"))
            subject = clean(question.findtext("QSubject"))
            key = question_key(body or subject)
            for comment in question.iter("Comment"):
                label = comment.get("CGOLD", "?")
                if label == "?":
                    label = gold.get(comment.get("CID", ""), "?")
                text = clean(comment.findtext("CBody"))
                if label not in labels or not text:
                    skipped[label] = skipped.get(label, 0) + 1
                    continue
                records.append(Record(
                    text=text,
                    labels={"off_topic": float(labels[label])},
                    source="semeval2015_cqa",
                    split=split_of(key, fraction),
                    article_title=subject or None,
                    article_text=body or None,
                    group=f"qatarliving:{key}",
                    meta={
                        "label": label,
                        "article_key": key,
                        "comment_id": comment.get("CID"),
                        "family": f"qatarliving:{question.get('QCATEGORY', '')}",
                    },
                ))
    if skipped:
        log.info("semeval2015_cqa: skipped %s", skipped)
    yield from isolate_questions(records, "semeval2015_cqa")
