"""Evaluate an artifact on labelled comments: per-attribute metrics at its thresholds and
span F1. Numpy only, so ``civility evaluate`` works on a scoring install."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from model.comments import Comment, char_spans
from model.metrics import per_label_metrics, span_f1
from model.scoring import ScorerBase, calibrated_matrix  # noqa: F401 (re-exported)


def span_chars_at(row: dict, *, threshold: float) -> set[int]:
    """The set of toxic character offsets a ``raw_scores(spans=True)`` row predicts."""
    return {c for start, end in char_spans(row, threshold=threshold) for c in range(start, end)}


def label_matrix(labels: Sequence[Mapping[str, float] | None], names: Sequence[str]) -> np.ndarray:
    """(n, k) label array with NaN where a record has no label for an attribute."""
    out = np.full((len(labels), len(names)), np.nan)
    for i, record in enumerate(labels):
        for j, name in enumerate(names):
            value = (record or {}).get(name)
            if value is not None:
                out[i, j] = float(value)
    return out


def evaluate(
    scorer: ScorerBase,
    comments: Sequence[Comment],
    labels: Sequence[Mapping[str, float] | None],
    *,
    span_chars: Sequence[Sequence[int] | None] | None = None,
    batch_size: int = 16,
) -> dict:
    """Metrics of ``scorer`` on ``comments`` against ``labels`` (and gold toxic spans).

    Returns ``{"attributes": {name: {n, positives, roc_auc, pr_auc, precision, recall, f1,
    ece, threshold}}, "spans": {"n": ..., "f1": ...}}`` (spans only when gold spans are given).
    """
    with_spans = span_chars is not None and any(s is not None for s in span_chars)
    rows = scorer.raw_scores(list(comments), batch_size=batch_size, spans=with_spans)
    names = scorer.config.attributes
    thresholds = {name: scorer.threshold(name) for name in names}
    result = {
        "attributes": per_label_metrics(
            label_matrix(labels, names),
            calibrated_matrix(scorer, rows),
            labels=names,
            thresholds=thresholds,
        )
    }
    if with_spans:
        result["spans"] = span_metrics(scorer, [(row, gold) for row, gold in
                                                zip(rows, span_chars, strict=True)
                                                if gold is not None])
    return result


def span_metrics(scorer: ScorerBase, pairs: list[tuple[dict, Iterable[int]]]) -> dict:
    """SemEval-2021 span F1 of ``(row, gold character offsets)`` pairs at the artifact's span
    threshold: ``{"n", "f1"}``."""
    threshold = scorer.span_threshold()
    predicted = [span_chars_at(row, threshold=threshold) for row, _ in pairs]
    return {"n": len(pairs), "f1": span_f1(predicted, [set(g) for _, g in pairs])}
