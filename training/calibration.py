"""Fitting calibrators and choosing decision thresholds on validation data.

Everything here returns plain JSON-able dicts that ``model/calibration.py`` (numpy only) can
apply at inference time. Calibrators are always fitted on the model's RAW LOGITS, because that
is what inference feeds them.

Soft labels (annotator agreement rates) are binarised at 0.5 with
:func:`model.metrics.binarise` before fitting: evaluation binarises the same way, so the
calibrated probability means "probability that a majority of annotators would say yes", and the
thresholds chosen here are measured on the labels the metrics use. NaN labels ("not labelled
for this attribute") are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression

from model.calibration import apply_calibration, sigmoid
from model.metrics import (
    binarise,
    descending_counts,
    expected_calibration_error,
    precision_recall_f1,
)

__all__ = [
    "best_threshold_for",
    "choose_calibration",
    "choose_threshold",
    "fit_isotonic",
    "fit_centred_isotonic",
    "fit_platt",
    "fit_temperature",
    "out_of_fold",
]


def _clean(logits: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Drop rows with NaN labels and binarise the rest (see module docstring)."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    t = np.asarray(y, dtype=np.float64).ravel()
    if z.shape != t.shape:
        raise ValueError(f"logits and labels differ in length: {z.size} != {t.size}")
    keep = ~np.isnan(t)
    z, t = z[keep], t[keep]
    if not np.all(np.isfinite(z)):
        raise ValueError("scores contain NaN or inf on labelled rows")
    return z, binarise(t)


def _require_rows(z: NDArray[np.float64], what: str) -> None:
    if z.size == 0:
        raise ValueError(f"{what}: no labelled rows to fit on")


# --------------------------------------------------------------------------- temperature


def fit_temperature(
    logits: ArrayLike,
    y: ArrayLike,
    *,
    min_temperature: float = 0.05,
    max_temperature: float = 100.0,
) -> dict[str, Any]:
    """Temperature scaling: the T minimising log-loss of ``sigmoid(logit / T)``.

    Log-loss is convex in w = 1/T, so its derivative is monotone and bisection on it finds the
    global optimum with no step-size tuning. T is clamped to ``[min_temperature,
    max_temperature]``: separable data drives T to 0 and uninformative (or inverted) logits
    drive it to infinity, and neither is a usable calibrator.

    >>> fit_temperature([-4.0, -2.0, 2.0, 4.0, -2.0, 2.0], [0, 0, 1, 1, 1, 0])["method"]
    'temperature'
    """
    z, t = _clean(logits, y)
    _require_rows(z, "fit_temperature")

    def grad(log_w: float) -> float:
        # d/dw of the mean log-loss of sigmoid(w * z).
        return float(np.mean((sigmoid(math.exp(log_w) * z) - t) * z))

    if not 0 < min_temperature <= max_temperature:
        raise ValueError("need 0 < min_temperature <= max_temperature")
    lo, hi = -math.log(max_temperature), -math.log(min_temperature)  # bounds on log w
    if grad(lo) >= 0:
        # Optimum at or below the smallest allowed w: uninformative or inverted logits.
        return {"method": "temperature", "temperature": float(max_temperature)}
    if grad(hi) <= 0:
        # Optimum at or above the largest allowed w: (near-)separable validation data.
        return {"method": "temperature", "temperature": float(min_temperature)}
    for _ in range(100):  # interval shrinks 2**-100: far past float precision
        mid = 0.5 * (lo + hi)
        if grad(mid) > 0:
            hi = mid
        else:
            lo = mid
    return {"method": "temperature", "temperature": float(math.exp(-0.5 * (lo + hi)))}


# --------------------------------------------------------------------------- platt


def fit_platt(logits: ArrayLike, y: ArrayLike, *, max_iter: int = 100) -> dict[str, Any]:
    """Platt scaling: ``p = sigmoid(a * logit + b)`` fitted by Newton's method on log-loss.

    Uses Platt's (1999) smoothed targets, (N+ + 1)/(N+ + 2) for positives and 1/(N- + 2) for
    negatives, as scikit-learn's sigmoid calibration does: they keep a and b finite when the
    validation logits separate the classes perfectly, and are negligible for large N.

    >>> cal = fit_platt([-3.0, -1.0, 0.0, 1.0, 3.0, 0.5], [0, 0, 1, 1, 1, 0])
    >>> sorted(cal), cal["a"] > 0
    (['a', 'b', 'method'], True)
    """
    z, t = _clean(logits, y)
    _require_rows(z, "fit_platt")
    n_pos = float(t.sum())
    n_neg = float(t.size - n_pos)
    target = np.where(t == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    design = np.column_stack([z, np.ones_like(z)])

    def loss(params: NDArray[np.float64]) -> float:
        s = design @ params
        # log(1 + exp(s)) - target * s is log-loss written without overflowing exp.
        return float(np.mean(np.logaddexp(0.0, s) - target * s))

    params = np.array([1.0, 0.0])  # start at identity: already good for decent models
    current = loss(params)
    for _ in range(max_iter):
        p = sigmoid(design @ params)
        gradient = design.T @ (p - target) / z.size
        weights = p * (1.0 - p)
        # Tiny ridge keeps the Hessian invertible when all logits are equal (a unidentifiable).
        hessian = (design.T * weights) @ design / z.size + 1e-10 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Backtracking: a full Newton step can overshoot where the loss is far from quadratic.
        scale = 1.0
        while scale > 1e-8:
            candidate = params - scale * step
            candidate_loss = loss(candidate)
            if candidate_loss <= current:
                break
            scale *= 0.5
        else:
            break  # no decrease possible: at the optimum to float precision
        params, improvement = candidate, current - candidate_loss
        current = candidate_loss
        if np.max(np.abs(scale * step)) < 1e-10 or improvement < 1e-15:
            break
    return {"method": "platt", "a": float(params[0]), "b": float(params[1])}


# --------------------------------------------------------------------------- isotonic


def _thin_within(x: NDArray[np.float64], y: NDArray[np.float64], eps: float) -> NDArray[np.intp]:
    """Greedy subset of breakpoints whose linear interpolation stays within eps of (x, y).

    From each kept point, gallop then bisect to a far point whose chord is within eps of every
    original breakpoint in between (checked, so the bound always holds).
    """

    def chord_ok(j: int, i: int) -> bool:
        if i - j < 2:
            return True
        approx = np.interp(x[j : i + 1], [x[j], x[i]], [y[j], y[i]])
        return bool(np.max(np.abs(approx - y[j : i + 1])) <= eps)

    last = x.size - 1
    kept = [0]
    j = 0
    while j < last:
        step = 1
        good = j + 1
        while j + step <= last and chord_ok(j, j + step):
            good = j + step
            step *= 2
        bad = min(j + step, last + 1)
        while bad - good > 1:  # invariant: good is a verified chord end, bad is not
            mid = (good + bad) // 2
            if chord_ok(j, mid):
                good = mid
            else:
                bad = mid
        kept.append(good)
        j = good
    return np.asarray(kept, dtype=np.intp)


def _thin(
    x: NDArray[np.float64], y: NDArray[np.float64], max_points: int
) -> tuple[NDArray[np.intp], float]:
    """Fewest-error subset of at most ``max_points`` breakpoints; returns (indices, max error).

    Binary search on the tolerance. Both curves are piecewise linear and the kept points are a
    subset of the original ones, so the largest gap sits at an original breakpoint and the
    reported error is the exact sup-norm change in calibrated probability.
    """
    if x.size <= max_points:
        return np.arange(x.size), 0.0
    lo, hi = 0.0, float(y.max() - y.min())
    best = _thin_within(x, y, hi)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        candidate = _thin_within(x, y, mid)
        if candidate.size <= max_points:
            best, hi = candidate, mid
        else:
            lo = mid
    error = float(np.max(np.abs(np.interp(x, x[best], y[best]) - y)))
    return best, error


def fit_isotonic(logits: ArrayLike, y: ArrayLike, *, max_points: int = 200) -> dict[str, Any]:
    """Isotonic regression from raw logit to probability, stored as interpolation breakpoints.

    Fits ``IsotonicRegression(out_of_bounds="clip")`` on the logits and keeps its breakpoints,
    which ``np.interp`` reproduces exactly at inference. If there are more than ``max_points``
    breakpoints they are thinned to the subset with the smallest maximum change in probability;
    that change is recorded as ``max_thinning_error`` (typically well under 0.01).

    >>> cal = fit_isotonic([-2.0, -1.0, 0.0, 1.0, 2.0], [0, 1, 0, 1, 1])
    >>> cal["x"], [round(v, 3) for v in cal["y"]]
    ([-2.0, -1.0, 0.0, 1.0, 2.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    iso, _ = _isotonic(logits, y, max_points, "fit_isotonic")
    return _breakpoints("isotonic", np.asarray(iso.X_thresholds_, dtype=np.float64),
                        np.asarray(iso.y_thresholds_, dtype=np.float64), max_points)


def _isotonic(logits: ArrayLike, y: ArrayLike, max_points: int,
              caller: str) -> tuple[IsotonicRegression, NDArray[np.float64]]:
    """Isotonic regression fitted on the cleaned rows, and their logits."""
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    z, t = _clean(logits, y)
    _require_rows(z, caller)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
    return iso.fit(z, t.astype(np.float64)), z


def _breakpoints(method: str, xs: NDArray[np.float64], ys: NDArray[np.float64],
                 max_points: int) -> dict[str, Any]:
    """An interpolating calibrator of ``method`` through (xs, ys), thinned to ``max_points``."""
    kept, error = _thin(xs, ys, max_points)
    return {"method": method, "x": xs[kept].tolist(), "y": ys[kept].tolist(),
            "max_thinning_error": error}


def fit_centred_isotonic(logits: ArrayLike, y: ArrayLike, *,
                         max_points: int = 200) -> dict[str, Any]:
    """Centred isotonic regression (Oron and Flournoy, 2017): isotonic regression's steps, each
    placed at the mean logit of its rows and joined by straight lines.

    Isotonic regression gives every logit of a step one probability, so comments the network
    ranks apart tie (release 2.2.0's off_topic: 35 distinct scores on 7,321 validation records)
    and a threshold can only fall between steps. Centred, the curve rises strictly from the
    first step's centre to the last one's (flat beyond, as ``isotonic``): distinct logits keep
    distinct scores inside that range, and the probabilities are the same steps' frequencies.
    Thinned to ``max_points`` as ``fit_isotonic``.

    >>> cal = fit_centred_isotonic([-2.0, -1.0, 0.0, 1.0, 2.0], [0, 1, 0, 1, 1])
    >>> cal["x"], [round(v, 3) for v in cal["y"]]
    ([-2.0, -0.5, 1.5], [0.0, 0.5, 1.0])
    """
    iso, z = _isotonic(logits, y, max_points, "fit_centred_isotonic")
    fitted = iso.predict(z)
    # the steps rise strictly and each holds a run of the sorted logits, so their values
    # name them and their centres ascend
    values, step = np.unique(fitted, return_inverse=True)
    centres = np.bincount(step, weights=z) / np.bincount(step)
    return _breakpoints("centred_isotonic", centres, values, max_points)


# --------------------------------------------------------------------------- selection

_FITTERS: dict[str, Callable[[NDArray[np.float64], NDArray[np.int64]], dict[str, Any]]] = {
    "identity": lambda z, t: {"method": "identity"},
    "temperature": fit_temperature,
    "platt": fit_platt,
    "isotonic": fit_isotonic,
    "centred_isotonic": fit_centred_isotonic,
}


def _stratified_folds(t: NDArray[np.int64], n_folds: int, seed: int) -> NDArray[np.intp]:
    """Fold id per row, dealing each class round-robin so every fold gets both classes."""
    rng = np.random.default_rng(seed)
    fold = np.empty(t.size, dtype=np.intp)
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(t == cls))
        # Offset the second class so small classes don't all land in the first folds.
        fold[idx] = (np.arange(idx.size) + cls * (n_folds // 2)) % n_folds
    return fold


def out_of_fold(fit: Callable[..., dict[str, Any]], z: NDArray[np.float64], t: NDArray,
                folds: NDArray[np.intp]) -> NDArray[np.float64]:
    """Each row's probability from the calibrator ``fit`` makes on the other folds' rows."""
    out = np.empty(z.size, dtype=np.float64)
    for k in np.unique(folds):
        held = folds == k
        out[held] = apply_calibration(z[held], fit(z[~held], t[~held]))
    return out


def choose_calibration(
    logits: ArrayLike,
    y: ArrayLike,
    *,
    methods: Sequence[str] = ("platt", "isotonic", "centred_isotonic", "temperature"),
    n_folds: int = 5,
    seed: int = 0,
    n_bins: int = 15,
    min_per_class: int = 20,
    min_per_class_platt: int = 5,
) -> dict[str, Any]:
    """Pick the calibration method with the lowest out-of-fold ECE, refit it on all data.

    Each method is fitted on k-1 stratified folds and applied to the held-out fold; ECE is
    computed once over the pooled out-of-fold probabilities. Measuring in-sample would always
    favour isotonic, which can memorise the validation set. Ties go to the earlier entry of
    ``methods``, so list simpler methods first. The result is the refitted calibrator plus a
    ``"selection"`` record of the scores, ``n``, ``positives`` and the uncalibrated
    (identity) ECE for comparison.

    With fewer than ``min_per_class`` positives or negatives the comparison is too noisy to
    trust: Platt scaling (two parameters, smoothed targets) is used; with fewer than
    ``min_per_class_platt`` even that is unreliable and identity is returned. The
    ``"selection"`` record says which fallback applied and why.

    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=400); yy = (rng.random(400) < 1 / (1 + np.exp(-z / 3))).astype(int)
    >>> choose_calibration(z, yy)["selection"]["metric"]
    'ece_out_of_fold'
    """
    unknown = [m for m in methods if m not in _FITTERS]
    if unknown or not methods:
        raise ValueError(f"unknown calibration methods {unknown}; known: {', '.join(_FITTERS)}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    z, t = _clean(logits, y)
    n, positives = int(t.size), int(t.sum())
    smaller_class = min(positives, n - positives)
    selection: dict[str, Any] = {
        "metric": "ece_out_of_fold",
        "scores": {},
        "n": n,
        "positives": positives,
        "identity_ece": (expected_calibration_error(t, sigmoid(z), n_bins=n_bins) if n else None),
    }

    if smaller_class < min_per_class:
        counts = f"{positives} positives and {n - positives} negatives"
        if smaller_class < min_per_class_platt:
            method = "identity"
            why = f"fewer than {min_per_class_platt} in a class, too few to fit any calibrator"
        else:
            method = "platt"
            why = f"fewer than {min_per_class} in a class, too few to compare methods"
        selection.update(metric="fallback", reason=f"{counts}: {why}; using {method}")
        return {**_FITTERS[method](z, t), "selection": selection}

    folds = _stratified_folds(t, n_folds, seed)
    scores: dict[str, float] = {}
    for method in methods:
        scores[method] = expected_calibration_error(
            t, out_of_fold(_FITTERS[method], z, t, folds), n_bins=n_bins)
    best = min(methods, key=lambda m: scores[m])  # min() keeps the first of equal scores
    selection.update(
        scores=scores,
        reason=f"lowest {n_folds}-fold out-of-fold ECE ({n_bins} bins) among {', '.join(methods)}",
    )
    return {**_FITTERS[best](z, t), "selection": selection}


# --------------------------------------------------------------------------- thresholds


def choose_threshold(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    target_precision: float = 0.8,
    min_positives: int = 5,
    fallback_threshold: float = 0.5,
    min_precision: float = 0.5,
) -> dict[str, Any]:
    """Decision threshold on calibrated probabilities: best recall at a target precision.

    Predicting positive when ``prob >= threshold``, this returns the lowest candidate threshold
    (an observed probability) whose validation precision reaches ``target_precision``; recall
    only falls as the threshold rises, so that is the best recall at that precision. If no
    threshold reaches the target, the max-F1 threshold is used (highest one on ties, i.e. fewer
    flags) as long as its precision is at least ``min_precision``; below that a flag would be
    wrong more often than right, so ``threshold`` is ``None``: the attribute is scored but never
    flagged. With fewer than ``min_positives`` labelled positives nothing can be tuned and the
    documented fallback ``fallback_threshold`` on the calibrated probability is used (0.5 =
    "more likely than not"). ``rule`` states in words which case applied. NaN labels are
    ignored; soft labels are binarised at 0.5.

    >>> r = choose_threshold([0, 0, 1, 0, 1, 1, 1, 1], [.1, .2, .3, .4, .5, .6, .7, .8],
    ...                      target_precision=0.8)
    >>> r["threshold"], r["precision"], r["recall"]
    (0.3, 0.8333333333333334, 1.0)
    """
    prob, t = _clean(y_prob, y_true)
    n, positives = int(t.size), int(t.sum())
    target_text = f"{target_precision:.2f}"

    if positives < min_positives:
        threshold = float(fallback_threshold)
        rule = (
            f"only {positives} labelled positives (< {min_positives}), too few to tune: "
            f"fallback calibrated probability >= {fallback_threshold:.2f} (more likely than not)"
        )
    else:
        # One candidate per distinct probability, descending (ties are flagged together).
        tps, fps, candidates = descending_counts(t.astype(np.float64), prob)
        tps = tps.astype(np.float64)
        flagged = tps + fps
        precision = tps / flagged
        # Tolerance so e.g. 4/5 counts as reaching 0.8 despite float rounding.
        meets = np.flatnonzero(precision >= target_precision - 1e-12)
        if meets.size:
            threshold = float(candidates[meets[-1]])  # last in descending = lowest threshold
            rule = (
                f"lowest threshold with validation precision >= {target_text} "
                "(best recall at that precision)"
            )
        else:
            f1 = 2.0 * tps / (flagged + positives)
            best = int(np.argmax(f1))
            threshold = float(candidates[best])
            rule = (
                f"no threshold reaches validation precision >= {target_text}; "
                "using the max-F1 threshold instead"
            )
            if precision[best] < min_precision:
                threshold = None
                rule = (
                    f"no threshold reaches validation precision >= {target_text}, and at the "
                    f"max-F1 threshold it is {precision[best]:.2f} (< {min_precision:.2f}): "
                    "scored, never flagged"
                )

    predicted = prob >= (np.inf if threshold is None else threshold)
    prec, rec, f1_score = precision_recall_f1(t, predicted.astype(np.int64))
    return {
        "threshold": threshold,
        "rule": rule,
        "target_precision": float(target_precision),
        "min_precision": float(min_precision),
        "precision": prec,
        "recall": rec,
        "f1": f1_score,
        "n": n,
        "positives": positives,
    }


def best_threshold_for(
    score_fn: Callable[[float], float], candidates: Iterable[float]
) -> tuple[float, float]:
    """Return ``(threshold, score)`` maximising ``score_fn`` over ``candidates``.

    Generic on purpose: e.g. the span head's token threshold is tuned by span F1, which needs
    the whole decode pipeline inside ``score_fn``. Ties keep the earliest candidate, so order
    candidates by preference. NaN scores are skipped; ``ValueError`` if nothing is scorable.

    >>> best_threshold_for(lambda th: -(th - 0.3) ** 2, [0.1, 0.3, 0.5])
    (0.3, -0.0)
    """
    best: tuple[float, float] | None = None
    for candidate in candidates:
        score = float(score_fn(float(candidate)))
        if math.isnan(score):
            continue
        if best is None or score > best[1]:
            best = (float(candidate), score)
    if best is None:
        raise ValueError("no candidate threshold produced a score")
    return best
