"""Compare two models on the same labelled data (``civility compare``): pure functions over arrays.

A retraining pipeline has to decide whether a new model replaces the old one. For every
attribute both models score and the data labels, and for every input file plus all files pooled,
this computes ROC-AUC, PR-AUC and F1 at each model's own flag threshold, with paired bootstrap
confidence intervals for each model and for the difference (new - old): the same resampled rows
score both models, so the interval of the difference is much tighter than the two intervals
suggest. It also counts the flags that change in each direction (split by the label, so "newly
flagged" says how many of those were right) and lists the largest score changes.

The bootstrap is vectorised: a resample is a row of multinomial counts over the data, and the
ranking metrics are computed from per-resample class counts at each distinct score, which
reproduces :func:`model.metrics.roc_auc` and :func:`model.metrics.average_precision` (ties
included) for any weights. 1000 resamples of 5000 rows take well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from model.metrics import (
    average_precision,
    binarise,
    json_float,
    precision_recall_f1,
    probability_bins,
    roc_auc,
)

METRICS = ("roc_auc", "pr_auc", "f1")
CONFIDENCE = 0.95
# (resamples x distinct scores) float arrays are built per chunk of resamples to bound memory
CHUNK_CELLS = 4_000_000



def resample_counts(n: int, *, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) bootstrap counts: how often each row is drawn in each resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))
    cells = (np.arange(n_resamples)[:, None] * n + draws).ravel()
    return np.bincount(cells, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float32)


def weighted_ranking_metrics(
    y: ArrayLike, score: ArrayLike, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of ``score`` for each row of ``weights`` (row weights).

    With all weights 1 this equals :func:`model.metrics.roc_auc` and
    :func:`model.metrics.average_precision`. NaN where a resample lacks a class.

    >>> auc, ap = weighted_ranking_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], np.ones((1, 4)))
    >>> float(auc[0])
    0.75
    """
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    w = np.atleast_2d(np.asarray(weights))
    order = np.argsort(s, kind="mergesort")
    sorted_scores, sorted_y = s[order], y[order]
    # one column per distinct score (ascending): tied rows enter a threshold together
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    aucs, aps = [], []
    step = max(1, CHUNK_CELLS // max(s.size, 1))
    for first in range(0, w.shape[0], step):
        part = w[first : first + step][:, order].astype(np.float64)
        pos = np.add.reduceat(part * sorted_y, starts, axis=1)
        neg = np.add.reduceat(part, starts, axis=1) - pos
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            # a positive beats every negative below it and ties count half (Mann-Whitney U)
            below = np.cumsum(neg, axis=1) - neg
            auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
            # from the highest score down: precision at each distinct threshold, weighted by
            # the recall it adds (the step-function AP, no interpolation)
            tp = np.cumsum(pos[:, ::-1], axis=1)
            seen = tp + np.cumsum(neg[:, ::-1], axis=1)
            precision = np.where(seen > 0, tp / np.maximum(seen, 1e-300), 0.0)
            ap = (pos[:, ::-1] * precision).sum(axis=1) / n_pos
        aucs.append(np.where((n_pos > 0) & (n_neg > 0), auc, np.nan))
        aps.append(np.where(n_pos > 0, ap, np.nan))
    return np.concatenate(aucs), np.concatenate(aps)


def weighted_f1(y: ArrayLike, flagged: ArrayLike, weights: np.ndarray) -> np.ndarray:
    """F1 of hard flags for each row of ``weights``; 0 where it is 0/0 (as in model.metrics)."""
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(flagged, dtype=np.float64)
    w = np.atleast_2d(weights)
    tp = w @ (y * f)
    fp = w @ ((1 - y) * f)
    fn = w @ (y * (1 - f))
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1e-300), 0.0)


def _interval(values: np.ndarray) -> list[float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def paired_metrics(
    y: ArrayLike,
    old: ArrayLike,
    new: ArrayLike,
    *,
    old_threshold: float,
    new_threshold: float,
    n_resamples: int = 1000,
    seed: int = 0,
    counts: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """ROC-AUC, PR-AUC and F1 of both models on the same rows, with paired bootstrap CIs.

    ``y`` is 0/1; ``old``/``new`` are calibrated probabilities; each model flags at its own
    threshold (``>=``). Returns ``{metric: {"old", "new", "diff", "old_ci", "new_ci",
    "diff_ci"}}`` with 95% percentile intervals; ``None`` where undefined (one class).
    ``counts`` (resamples x rows) gives the resamples, e.g. the columns of a resample of a
    larger table; by default ``n_resamples`` are drawn with ``seed``.
    """
    y = binarise(y)
    old, new = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
    old_flags, new_flags = old >= old_threshold, new >= new_threshold
    point = {
        "roc_auc": (roc_auc(y, old), roc_auc(y, new)),
        "pr_auc": (average_precision(y, old), average_precision(y, new)),
        "f1": (precision_recall_f1(y, old_flags.astype(int))[2],
               precision_recall_f1(y, new_flags.astype(int))[2]),
    }
    if counts is None:
        counts = resample_counts(y.size, n_resamples=n_resamples, seed=seed)
    old_auc, old_ap = weighted_ranking_metrics(y, old, counts)
    new_auc, new_ap = weighted_ranking_metrics(y, new, counts)
    boot = {
        "roc_auc": (old_auc, new_auc),
        "pr_auc": (old_ap, new_ap),
        "f1": (weighted_f1(y, old_flags, counts), weighted_f1(y, new_flags, counts)),
    }
    out = {}
    for metric in METRICS:
        (o, n), (bo, bn) = point[metric], boot[metric]
        out[metric] = {
            "old": json_float(o), "new": json_float(n), "diff": json_float(n - o),
            "old_ci": _interval(bo), "new_ci": _interval(bn), "diff_ci": _interval(bn - bo),
        }
    return out


def flag_changes(
    y: ArrayLike, old: ArrayLike, new: ArrayLike, *, old_threshold: float, new_threshold: float
) -> dict[str, int]:
    """How many rows each model flags, and how many flags change in each direction, by label.

    ``newly_flagged_positive`` are rows the new model now catches (good);
    ``newly_flagged_negative`` new false positives; ``unflagged_positive`` rows it now misses;
    ``unflagged_negative`` false positives it no longer raises.
    """
    y = binarise(y).astype(bool)
    old_flags = np.asarray(old) >= old_threshold
    new_flags = np.asarray(new) >= new_threshold
    gained, lost = new_flags & ~old_flags, old_flags & ~new_flags
    return {
        "old_flagged": int(old_flags.sum()),
        "new_flagged": int(new_flags.sum()),
        "newly_flagged": int(gained.sum()),
        "newly_flagged_positive": int((gained & y).sum()),
        "newly_flagged_negative": int((gained & ~y).sum()),
        "unflagged": int(lost.sum()),
        "unflagged_positive": int((lost & y).sum()),
        "unflagged_negative": int((lost & ~y).sum()),
    }


def largest_changes(old: ArrayLike, new: ArrayLike, *, top: int = 5) -> dict[str, list[int]]:
    """Row indices of the ``top`` largest score rises and falls (new - old), largest first."""
    delta = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)
    order = np.argsort(delta, kind="mergesort")
    rises = [int(i) for i in order[::-1][:top] if delta[i] > 0]
    falls = [int(i) for i in order[:top] if delta[i] < 0]
    return {"rises": rises, "falls": falls}


def reliability(y: ArrayLike, prob: ArrayLike, *, n_bins: int = 10) -> dict[str, list]:
    """Calibration curve: per equal-width bin of [0, 1], mean probability, positive rate, count.

    Empty bins are left out; the bins are the ECE's (``model.metrics.probability_bins``).
    """
    y = binarise(y).astype(np.float64)
    p = np.asarray(prob, dtype=np.float64)
    bins = probability_bins(p, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    filled = count > 0
    mean_p = np.bincount(bins, weights=p, minlength=n_bins)[filled] / count[filled]
    rate = np.bincount(bins, weights=y, minlength=n_bins)[filled] / count[filled]
    return {"mean_prob": mean_p.tolist(), "positive_rate": rate.tolist(),
            "count": count[filled].tolist()}


def compare_arrays(
    labels: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
    *,
    names: Sequence[str],
    groups: Sequence[str],
    old_thresholds: Mapping[str, float],
    new_thresholds: Mapping[str, float],
    n_resamples: int = 1000,
    seed: int = 0,
    top: int = 5,
) -> dict[str, Any]:
    """The whole comparison over (n, k) label and probability matrices (NaN = no label/score).

    ``groups`` names each row's file; metrics are given per attribute for ``"all"`` rows and
    for each group. Rows count for an attribute only where it is labelled and both models
    scored it. One resample of all rows serves every attribute and file (the unit resampled is
    the comment), which also saves drawing one per table cell. Returns
    ``{"attributes": {name: {"all": {...}, group: {...}}}}`` where each entry has n,
    positives, the :func:`paired_metrics`, flag changes, the rows of the largest score changes
    (``all`` only) and both calibration curves (``all`` only).
    """
    labels, old, new = (np.asarray(a, dtype=np.float64) for a in (labels, old, new))
    groups_arr = np.asarray(groups, dtype=object)
    counts = resample_counts(labels.shape[0], n_resamples=n_resamples, seed=seed)
    out: dict[str, Any] = {}
    for j, name in enumerate(names):
        usable = ~np.isnan(labels[:, j]) & ~np.isnan(old[:, j]) & ~np.isnan(new[:, j])
        per_group: dict[str, Any] = {}
        for group in ["all", *sorted(set(groups_arr[usable].tolist()))]:
            rows = usable if group == "all" else usable & (groups_arr == group)
            if not rows.any():
                continue
            y = binarise(labels[rows, j])
            o, n = old[rows, j], new[rows, j]
            thresholds = {"old_threshold": float(old_thresholds[name]),
                          "new_threshold": float(new_thresholds[name])}
            entry: dict[str, Any] = {
                "n": int(y.size),
                "positives": int(y.sum()),
                **thresholds,
                "metrics": paired_metrics(y, o, n, counts=counts[:, rows], **thresholds),
                "flags": flag_changes(y, o, n, **thresholds),
            }
            if group == "all":
                index = np.flatnonzero(rows)
                changes = largest_changes(o, n, top=top)
                entry["largest_changes"] = {k: index[v].tolist() for k, v in changes.items()}
                entry["calibration"] = {"old": reliability(y, o), "new": reliability(y, n)}
            per_group[group] = entry
        if per_group:
            out[name] = per_group
    return {"attributes": out, "n_resamples": n_resamples, "seed": seed,
            "confidence": CONFIDENCE}


def gate(
    comparison: Mapping[str, Any], *, metric: str = "roc_auc", tolerance: float = 0.01
) -> dict[str, Any]:
    """Is the new model at least as good on every attribute, within ``tolerance``?

    Judged on all rows pooled, by the point difference ``new - old >= -tolerance`` of
    ``metric``. Attributes where the metric is undefined (one class in the data) are listed as
    ``undecided`` and do not fail the gate. Returns ``{"passed", "metric", "tolerance",
    "worse": [...], "undecided": [...]}``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    worse, undecided = [], []
    for name, per_group in comparison["attributes"].items():
        diff = per_group["all"]["metrics"][metric]["diff"]
        if diff is None:
            undecided.append(name)
        elif diff < -tolerance:
            worse.append(name)
    return {"passed": not worse, "metric": metric, "tolerance": tolerance, "worse": worse,
            "undecided": undecided}
