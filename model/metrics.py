"""Evaluation metrics for Civility, in plain numpy.

This module is imported by the scoring install, which has no scikit-learn, so everything here is
numpy only. The ranking metrics reproduce scikit-learn's definitions exactly (ties included) so
numbers reported by training (where sklearn exists) and by scoring agree to floating-point noise.

All functions are pure: they take arrays, return numbers or plain dicts, and never mutate input.
Options are keyword-only so call sites stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "average_precision",
    "binarise",
    "expected_calibration_error",
    "format_metrics_table",
    "per_label_metrics",
    "precision_recall_f1",
    "roc_auc",
    "span_f1",
]


def _as_1d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _check_binary(y: NDArray[np.float64], name: str = "y_true") -> None:
    # Soft or NaN labels would silently skew ranks/counts; callers must mask and binarise first.
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name} must contain only 0/1; binarise soft labels and drop NaN first")


def _pair(y_true: ArrayLike, y_other: ArrayLike, other_name: str) -> tuple[NDArray, NDArray]:
    y = _as_1d(y_true, "y_true")
    s = _as_1d(y_other, other_name)
    if y.shape != s.shape:
        raise ValueError(f"y_true and {other_name} differ in length: {y.shape[0]} != {s.shape[0]}")
    _check_binary(y)
    return y, s


def _average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks where tied values share the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    # Start index of each run of equal values in the sorted array.
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], sorted_vals.size]  # exclusive
    # A run occupying 0-based positions [s, e) has 1-based ranks s+1..e, mean (s + 1 + e) / 2.
    run_rank = (starts + 1 + ends) / 2.0
    ranks_sorted = np.repeat(run_rank, ends - starts)
    ranks = np.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic.

    Tied scores get average ranks, which counts each positive/negative tie as half a win: this
    is exactly the trapezoidal ROC area that ``sklearn.metrics.roc_auc_score`` computes.
    Returns NaN when only one class is present (the AUC is undefined, not 0.5).

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _pair(y_true, y_score, "y_score")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def descending_counts(
    y: NDArray[np.float64], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Cumulative (tp, fp, threshold) at every distinct score, from the highest score down.

    Predicting positive for ``score >= threshold``; tied scores enter together, as in sklearn.
    """
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # Last index of each run of equal scores: a threshold can only sit between distinct scores.
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    return tps, fps, s_sorted[last]


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision, identical to ``sklearn.metrics.average_precision_score``.

    AP = sum_k (R_k - R_{k-1}) * P_k over distinct score thresholds (highest first), a step
    function with no interpolation; tied scores form a single threshold. NaN when there are no
    positives (sklearn warns and returns a meaningless value there).

    >>> average_precision([0, 1, 0, 1], [0.1, 0.9, 0.8, 0.3])  # (1/2)*1 + (1/2)*(2/3)
    0.8333333333333333
    """
    y, s = _pair(y_true, y_score, "y_score")
    if y.sum() == 0:
        return math.nan
    tps, fps, _ = descending_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    recall_gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_gain * precision))


def precision_recall_f1(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[float, float, float]:
    """Precision, recall and F1 of hard 0/1 predictions; 0.0 where a ratio is 0/0.

    The 0.0 convention matches sklearn's ``zero_division=0``: a label never predicted has
    precision 0, not "undefined", so averaging over labels cannot silently skip it.

    >>> precision_recall_f1([1, 1, 0, 0], [1, 0, 1, 0])
    (0.5, 0.5, 0.5)
    """
    y, p = _pair(y_true, y_pred, "y_pred")
    _check_binary(p, "y_pred")
    tp = float(np.sum((y == 1) & (p == 1)))
    fp = float(np.sum((y == 0) & (p == 1)))
    fn = float(np.sum((y == 1) & (p == 0)))
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def probability_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Index of each probability's equal-width bin of [0, 1]: bin b covers
    [b/n_bins, (b+1)/n_bins), the last one also 1.0 (the ECE's and the calibration curves')."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Searching the interior edges with side="right" puts p == edge in the upper bin, and 1.0
    # (past every interior edge) in the last bin.
    return np.searchsorted(edges[1:-1], p, side="right")


def expected_calibration_error(y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error over ``n_bins`` equal-width bins of [0, 1].

    ECE = sum_b (|b| / n) * |mean(y in b) - mean(p in b)|. Bin b covers [b/n_bins, (b+1)/n_bins)
    and the last bin also includes 1.0. Empty bins contribute nothing. NaN for empty input.

    >>> round(expected_calibration_error([0, 1, 1, 1], [0.1, 0.3, 0.9, 0.9], n_bins=2), 6)
    0.2
    """
    y, p = _pair(y_true, y_prob, "y_prob")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("y_prob must lie in [0, 1]")
    if y.size == 0:
        return math.nan
    bins = probability_bins(p, n_bins)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    filled = counts > 0
    # (count/n) * |sum_y/count - sum_p/count| simplifies to |sum_y - sum_p| / n.
    return float(np.sum(np.abs(sum_y[filled] - sum_p[filled])) / y.size)


def span_f1(predicted: Sequence[Iterable[int]], gold: Sequence[Iterable[int]]) -> float:
    """Mean per-post F1 of character offsets (SemEval-2021 Task 5, Toxic Spans).

    Per post: F1 between the predicted and gold offset sets; if gold is empty the post scores
    1.0 when the prediction is empty too and 0.0 otherwise; an empty prediction against a
    non-empty gold scores 0.0. Posts are averaged unweighted, so short posts count fully.
    NaN when there are no posts.

    >>> span_f1([[1, 2, 3], []], [[2, 3, 4, 5], []])  # (2*2/(3+4) + 1) / 2
    0.7857142857142857
    """
    if len(predicted) != len(gold):
        raise ValueError(f"predicted and gold differ in length: {len(predicted)} != {len(gold)}")
    if len(gold) == 0:
        return math.nan
    scores = []
    for pred_offsets, gold_offsets in zip(predicted, gold, strict=True):
        p, g = set(pred_offsets), set(gold_offsets)
        if not g:
            scores.append(1.0 if not p else 0.0)
        elif not p:
            scores.append(0.0)
        else:
            scores.append(2.0 * len(p & g) / (len(p) + len(g)))
    return float(np.mean(scores))


def binarise(y_true: ArrayLike, *, at: float = 0.5) -> NDArray[np.int64]:
    """Turn soft labels in [0, 1] into 0/1 (``>= at`` is positive).

    Soft labels are annotator agreement rates; the default 0.5 reads them as "a majority (or
    exactly half) of annotators said yes". This is the one documented place a 0.5 appears: it
    is a label convention, not a decision threshold. Hard 0/1 labels pass through unchanged.
    NaN ("no label") is rejected rather than silently becoming 0: mask it out first.

    >>> binarise([0.0, 0.3, 0.5, 1.0]).tolist()
    [0, 0, 1, 1]
    """
    y = np.asarray(y_true, dtype=np.float64)
    if np.any(np.isnan(y)):
        raise ValueError("y_true contains NaN (missing labels); drop those rows before binarising")
    return (y >= at).astype(np.int64)


def json_float(x: float | None) -> float | None:
    """``x`` as a float, or None when missing or not finite: json.dumps would write NaN and
    Infinity as bare tokens that strict parsers reject (None renders as "n/a" in reports)."""
    return None if x is None or not math.isfinite(x) else float(x)


def per_label_metrics(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
) -> dict[str, dict[str, Any]]:
    """Ranking, thresholded and calibration metrics for each label column.

    ``y_true`` and ``y_prob`` have shape (n, k) with column j belonging to ``labels[j]``. NaN in
    ``y_true`` means the source did not label that attribute for that row, so the row is skipped
    for that label only. NaN in ``y_prob`` means the model did not score that attribute for the
    row (e.g. off_topic without context): the row is skipped too and counted in ``unscored``.
    Soft labels are binarised with :func:`binarise`. A row is predicted positive when
    ``prob >= thresholds[label]`` (thresholds are required: there is no default cut-off).
    Labels with no usable rows are omitted. Per label: n, positives, roc_auc, pr_auc,
    precision, recall, f1, ece, threshold, unscored. Undefined values (e.g. AUC with one
    class) are ``None`` so the result is JSON-safe.

    >>> m = per_label_metrics([[1.0], [0.0], [np.nan]], [[0.9], [0.2], [0.7]],
    ...                       labels=["insult"], thresholds={"insult": 0.6})
    >>> m["insult"]["n"], m["insult"]["roc_auc"], m["insult"]["f1"]
    (2, 1.0, 1.0)
    """
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_prob, dtype=np.float64)
    if yt.ndim != 2 or yt.shape != yp.shape:
        raise ValueError(f"y_true and y_prob must both be (n, k); got {yt.shape} and {yp.shape}")
    if yt.shape[1] != len(labels):
        raise ValueError(f"{yt.shape[1]} columns but {len(labels)} labels")
    missing = [name for name in labels if name not in thresholds]
    if missing:
        raise KeyError(f"no threshold for labels {missing}")

    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(labels):
        labelled = ~np.isnan(yt[:, j])
        # NaN probability = the model did not score this attribute for the row (e.g. off_topic
        # without an article or parent). Such rows cannot be evaluated; they are skipped but
        # counted as "unscored" so a shrinking evaluation set stays visible.
        used = labelled & ~np.isnan(yp[:, j])
        n = int(used.sum())
        if n == 0:
            continue
        prob = yp[used, j]
        y = binarise(yt[used, j])
        threshold = float(thresholds[name])
        predicted = (prob >= threshold).astype(np.int64)
        precision, recall, f1 = precision_recall_f1(y, predicted)
        # macro-F1 averages the F1 of both classes (OffensEval's metric)
        negative_f1 = precision_recall_f1(1 - y, 1 - predicted)[2]
        out[name] = {
            "n": n,
            "positives": int(y.sum()),
            "roc_auc": json_float(roc_auc(y, prob)),
            "pr_auc": json_float(average_precision(y, prob)),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "macro_f1": (f1 + negative_f1) / 2,
            "ece": json_float(expected_calibration_error(y, prob)),
            "threshold": json_float(threshold),  # None: scored, never flagged
            "unscored": int(labelled.sum()) - n,
        }
    return out


_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n", "n"),
    ("positives", "pos"),
    ("roc_auc", "roc_auc"),
    ("pr_auc", "pr_auc"),
    ("precision", "prec"),
    ("recall", "recall"),
    ("f1", "f1"),
    ("ece", "ece"),
    ("threshold", "thr"),
)


def format_metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """Render :func:`per_label_metrics` output as an aligned plain-text table.

    One row per label, in the mapping's order; missing/undefined values print as ``-``.

    >>> print(format_metrics_table({"insult": {"n": 2, "positives": 1, "roc_auc": 1.0}}))
    label   n  pos  roc_auc  pr_auc  prec  recall  f1  ece  thr
    insult  2    1    1.000       -     -       -   -    -    -
    """

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "-"
        if isinstance(value, (bool, np.bool_)):
            return str(value)
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.3f}"
        return str(value)

    header = ["label", *(title for _, title in _TABLE_COLUMNS)]
    rows = [
        [str(label), *(cell(row.get(key)) for key, _ in _TABLE_COLUMNS)]
        for label, row in metrics.items()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        # Label left-aligned, numbers right-aligned so decimal points line up.
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join(line(r) for r in [header, *rows])
