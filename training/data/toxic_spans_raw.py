"""The raw ToxicSpans annotations (Pavlopoulos et al., ACL 2022) behind SemEval-2021 Task 5.

Three CSVs: ``comments.csv`` (comment_id, comment_text), ``annotations.csv`` (one row per rater:
annotation, comment_id, worker, country, ``all toxic``, ``not toxic``) and ``spans.csv``
(annotation, type, start, end) with typed spans: Insult, Profane/Obscene, Identity based
Attack, Threat, Other Toxicity (a few type names are truncated in the file, matched by prefix).

A rater votes "toxic" when they marked a span, or ticked ``all toxic`` without ``not toxic``;
"not toxic" when they marked nothing and ticked ``not toxic`` (in this export the two boxes are
mostly ticked together on posts with no span); with nothing marked and neither box ticked they
abstain. Soft labels are the share of voting raters: incivility from the toxic votes, and each
span type's attribute from the raters who marked a span of that type.

Posts that are also in the SemEval files take their SemEval split (trial = validation) and, by
default (``semeval_posts: types_only``), only the typed labels: the ``toxic_spans`` source owns
their incivility label and spans, so the two sources never give one text conflicting targets.
The remaining posts (not in SemEval train/trial, incl. negatives) are split seeded by text
(``other_posts: skip`` drops them). Whether the withheld SemEval test posts are among them
cannot be told from here; their rater profile is unlike SemEval's (few posts every rater found
toxic), and this source yields no spans. Duplicate texts under several ids are pooled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from training.data.labelled import clean, mean, read_rows, split_of, text_key
from training.data.toxic_spans import read_semeval
from training.records import Record


def _span_attribute(span_type: str, span_types: dict) -> str | None:
    """The attribute of a span type (``None``: untyped), matching truncated names by prefix."""
    wanted = span_type.strip().lower()
    for name, attribute in span_types.items():
        if wanted and name.lower().startswith(wanted):
            return attribute
    return None


def _vote(row: dict, marked: bool) -> float | None:
    all_toxic = row["all toxic"].strip() == "True"
    not_toxic = row["not toxic"].strip() == "True"
    if marked or (all_toxic and not not_toxic):
        return 1.0
    return 0.0 if not_toxic else None


def _semeval_splits(data_dir: Path, spec: dict) -> dict[str, str]:
    """Cleaned SemEval text -> split, empty when the SemEval files are not there."""
    folder = Path(data_dir) / spec.get("semeval_dir", "../semeval2021")
    splits = {}
    for file_name, split in spec.get("semeval_files", {}).items():
        if (folder / file_name).exists():
            for raw, _ in read_semeval(folder / file_name):
                if splits.get(clean(raw)) != "validation":  # as in toxic_spans: validation wins
                    splits[clean(raw)] = split
    return splits


def load(data_dir: Path, spec: dict) -> Iterator[Record]:
    data_dir = Path(data_dir)
    span_types = spec["span_types"]
    types: dict[str, set[str]] = defaultdict(set)  # annotation -> attributes of its spans
    marked: set[str] = set()  # annotations with at least one span
    for row in read_rows(data_dir / "spans.csv"):
        marked.add(row["annotation"])
        attribute = _span_attribute(row["type"], span_types)
        if attribute:
            types[row["annotation"]].add(attribute)

    texts = {
        row["comment_id"]: clean(row["comment_text"])
        for row in read_rows(data_dir / "comments.csv")
    }
    votes: dict[str, list[tuple[float, set[str]]]] = defaultdict(list)  # text -> rater votes
    for row in read_rows(data_dir / "annotations.csv"):
        text = texts.get(row["comment_id"])
        vote = _vote(row, row["annotation"] in marked)
        if text is not None and vote is not None:
            votes[text].append((vote, types.get(row["annotation"], set())))

    semeval = _semeval_splits(data_dir, spec)
    attributes = sorted({a for a in span_types.values() if a})
    for text, rater_votes in votes.items():
        labels = {a: mean(a in typed for _, typed in rater_votes) for a in attributes}
        group = f"civil_comments:{text_key(text)}"
        if text in semeval:
            if spec.get("semeval_posts", "types_only") == "skip":
                continue
            split = semeval[text]
        elif spec.get("other_posts", "seeded") == "skip":
            continue
        else:
            labels[spec.get("vote_attribute", "incivility")] = mean(v for v, _ in rater_votes)
            split = split_of(group, spec)
        yield Record(
            text=text,
            labels={a: round(v, 4) for a, v in labels.items()},
            source="toxic_spans_raw",
            split=split,
            group=group,
            meta={"raters": len(rater_votes)},
        )
