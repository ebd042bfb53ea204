"""Tests for training/calibration.py: fitting calibrators and choosing thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from model.calibration import apply_calibration, sigmoid
from model.metrics import expected_calibration_error, precision_recall_f1, span_f1
from training.calibration import (
    best_threshold_for,
    choose_calibration,
    choose_threshold,
    fit_centred_isotonic,
    fit_isotonic,
    fit_platt,
    fit_temperature,
)


def _sample(n: int, prob_of_logit, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits ~ N(0, 2^2) and labels drawn from a known true probability of the logit."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=n)
    y = (rng.random(n) < prob_of_logit(z)).astype(int)
    return z, y


def _round_trip(calibrator: dict) -> dict:
    # Calibrators are stored as JSON next to the model; applying must survive that.
    return json.loads(json.dumps(calibrator, allow_nan=False))


# ----------------------------------------------------------------------------- temperature


def test_fit_temperature_recovers_true_temperature() -> None:
    z, y = _sample(20_000, lambda z: sigmoid(z / 2.5), seed=0)
    cal = _round_trip(fit_temperature(z, y))
    assert cal["method"] == "temperature"
    assert cal["temperature"] == pytest.approx(2.5, rel=0.08)
    np.testing.assert_allclose(apply_calibration(z, cal), sigmoid(z / cal["temperature"]))


def test_fit_temperature_clamps_degenerate_cases() -> None:
    # Perfectly separable logits push T to 0; the clamp stops at min_temperature.
    z = np.array([-2.0, -1.0, 1.0, 2.0])
    assert fit_temperature(z, [0, 0, 1, 1])["temperature"] == pytest.approx(0.05)
    # Inverted logits would want a negative temperature; clamp at max_temperature.
    assert fit_temperature(z, [1, 1, 0, 0], max_temperature=50.0)["temperature"] == 50.0


# ----------------------------------------------------------------------------- platt


def test_fit_platt_recovers_true_parameters_and_round_trips() -> None:
    z, y = _sample(20_000, lambda z: sigmoid(0.5 * z - 1.0), seed=1)
    cal = _round_trip(fit_platt(z, y))
    assert cal["a"] == pytest.approx(0.5, abs=0.05)
    assert cal["b"] == pytest.approx(-1.0, abs=0.08)
    np.testing.assert_allclose(apply_calibration(z, cal), sigmoid(cal["a"] * z + cal["b"]))


def test_fit_platt_stays_finite_on_separable_data() -> None:
    cal = fit_platt([-2.0, -1.0, 1.0, 2.0], [0, 0, 1, 1])
    assert np.isfinite(cal["a"]) and np.isfinite(cal["b"]) and cal["a"] > 0
    # Smoothed targets 1/4 and 3/4 (Platt: 1/(N-+2), (N++1)/(N++2)) cap the probabilities.
    p = apply_calibration([-2.0, 2.0], cal)
    assert 0.2 < p[0] < 0.3 and 0.7 < p[1] < 0.8


# ----------------------------------------------------------------------------- isotonic


def test_fit_isotonic_matches_sklearn_without_thinning() -> None:
    z, y = _sample(600, lambda z: sigmoid(z), seed=2)
    cal = _round_trip(fit_isotonic(z, y))
    assert len(cal["x"]) <= 200 and cal["max_thinning_error"] == 0.0
    reference = IsotonicRegression(out_of_bounds="clip").fit(z, y)
    grid = np.linspace(-10, 10, 501)  # includes values beyond the data: clipping
    np.testing.assert_allclose(apply_calibration(grid, cal), reference.predict(grid), atol=1e-12)


def test_fit_isotonic_thins_to_max_points_with_small_error() -> None:
    # 20k rows give ~150 breakpoints; a 60-point budget forces real thinning while staying
    # fast (the default budget of 200 only bites on larger validation sets).
    z, y = _sample(20_000, lambda z: sigmoid(0.8 * z + 0.3), seed=3)
    reference = IsotonicRegression(out_of_bounds="clip").fit(z, y)
    assert reference.X_thresholds_.size > 100  # otherwise this test checks nothing
    cal = _round_trip(fit_isotonic(z, y, max_points=60))
    assert len(cal["x"]) == len(cal["y"]) <= 60
    assert np.all(np.diff(cal["x"]) >= 0) and np.all(np.diff(cal["y"]) >= 0)
    grid = np.linspace(-9, 9, 4001)
    gap = np.abs(apply_calibration(grid, cal) - reference.predict(grid)).max()
    assert gap <= cal["max_thinning_error"] + 1e-12
    assert 0 < cal["max_thinning_error"] < 0.02


def test_centred_isotonic_keeps_isotonic_steps_but_ranks_within_them() -> None:
    z, y = _sample(3_000, lambda z: sigmoid(0.7 * z), seed=6)
    steps = IsotonicRegression(out_of_bounds="clip").fit(z, y)
    cal = _round_trip(fit_centred_isotonic(z, y, max_points=10_000))
    fitted = steps.predict(z)
    # one breakpoint per step, at the mean logit of its rows, with the step's frequency
    assert sorted(cal["y"]) == cal["y"] == sorted(set(fitted.tolist()))
    for x, p in zip(cal["x"], cal["y"], strict=True):
        assert x == pytest.approx(z[fitted == p].mean())
        assert p == pytest.approx(y[fitted == p].mean())
    inside = np.sort(z[(z > cal["x"][0]) & (z < cal["x"][-1])])
    scores = apply_calibration(inside, cal)
    assert np.all(np.diff(scores) > 0)  # distinct logits, distinct scores: no ties to rank
    assert len(np.unique(apply_calibration(z, _round_trip(fit_isotonic(z, y))))) < \
        len(np.unique(apply_calibration(z, cal))) / 10
    thinned = _round_trip(fit_centred_isotonic(z, y, max_points=20))
    assert len(thinned["x"]) <= 20 and thinned["method"] == "centred_isotonic"
    gap = np.abs(apply_calibration(z, thinned) - apply_calibration(z, cal)).max()
    assert gap <= thinned["max_thinning_error"] + 1e-12


def test_fitters_ignore_nan_and_binarise_soft_labels() -> None:
    z = np.array([-2.0, -1.0, 0.5, 1.0, 2.0, 3.0, 0.0])
    soft = np.array([0.0, 0.4, 0.6, 1.0, 0.2, 0.9, np.nan])
    hard = np.array([0, 0, 1, 1, 0, 1])
    for fit in (fit_platt, fit_temperature, fit_isotonic, fit_centred_isotonic):
        assert fit(z, soft) == fit(z[:6], hard)


# ----------------------------------------------------------------------------- choose_calibration


def _staircase(z: np.ndarray) -> np.ndarray:
    # Monotone in the logit but nothing like a sigmoid: plateaus that no 2-parameter
    # sigmoid can follow, and far from sigmoid(z) (badly calibrated).
    return np.select([z < -1.0, z < 1.0], [0.3, 0.5], default=0.7)


def test_choose_calibration_prefers_isotonic_for_monotone_miscalibration() -> None:
    z, y = _sample(4_000, _staircase, seed=4)
    cal = choose_calibration(z, y)
    sel = cal["selection"]
    assert cal["method"] in ("isotonic", "centred_isotonic")
    assert sel["metric"] == "ece_out_of_fold"
    assert set(sel["scores"]) == {"platt", "isotonic", "centred_isotonic", "temperature"}
    assert sel["scores"][cal["method"]] == min(sel["scores"].values())
    assert sel["scores"][cal["method"]] < sel["identity_ece"] / 3
    assert min(sel["scores"]["platt"], sel["scores"]["temperature"]) > sel["scores"][cal["method"]]
    assert (sel["n"], sel["positives"]) == (4_000, int(y.sum()))
    # On fresh data from the same distribution the calibrator beats the raw sigmoid.
    z_test, y_test = _sample(4_000, _staircase, seed=5)
    calibrated = expected_calibration_error(y_test, apply_calibration(z_test, _round_trip(cal)))
    raw = expected_calibration_error(y_test, sigmoid(z_test))
    assert calibrated < raw / 3


def test_choose_calibration_is_deterministic_given_seed_and_drops_nan() -> None:
    z, y = _sample(1_000, lambda z: sigmoid(z / 2), seed=6)
    y_with_nan = np.r_[y.astype(float), np.nan, np.nan]
    z_with_extra = np.r_[z, 5.0, -5.0]
    first = choose_calibration(z_with_extra, y_with_nan, seed=7)
    assert first == choose_calibration(z, y, seed=7)
    assert first["selection"]["n"] == 1_000


def test_choose_calibration_falls_back_with_few_examples() -> None:
    rng = np.random.default_rng(8)
    z = rng.normal(size=300)
    y = np.zeros(300, dtype=int)
    y[np.argsort(z)[-10:]] = 1  # 10 positives: enough for Platt, not for a comparison
    cal = choose_calibration(z, y)
    assert cal["method"] == "platt"
    assert cal["selection"]["metric"] == "fallback"
    assert "10 positives" in cal["selection"]["reason"]

    y[:] = 0
    y[np.argmax(z)] = 1  # a single positive: nothing can be fitted
    cal = choose_calibration(z, y)
    assert cal["method"] == "identity"
    assert "identity" in cal["selection"]["reason"]


def test_choose_calibration_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="beta"):
        choose_calibration([0.0, 1.0], [0, 1], methods=("beta",))


# ----------------------------------------------------------------------------- choose_threshold


def _precision_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    return precision_recall_f1(y, (p >= threshold).astype(int))[0]


def test_choose_threshold_hits_target_precision_with_best_recall() -> None:
    rng = np.random.default_rng(9)
    p = rng.random(2_000)
    y = (rng.random(2_000) < p).astype(int)  # calibrated scores: precision rises with p
    result = choose_threshold(y, p, target_precision=0.8)
    assert result["precision"] >= 0.8
    assert result["rule"].startswith("lowest threshold with validation precision >= 0.80")
    # Brute force: no lower observed probability reaches the target.
    lower = np.unique(p[p < result["threshold"]])
    assert all(_precision_at(y, p, t) < 0.8 for t in lower)
    assert result["precision"] == _precision_at(y, p, result["threshold"])
    assert (result["n"], result["positives"]) == (2_000, int(y.sum()))
    json.dumps(result, allow_nan=False)


def test_choose_threshold_by_hand() -> None:
    # p .1 .. .8 with labels 0 0 1 0 1 1 1 1. Threshold .3 flags 6 with 5 positive
    # (P = 5/6 >= .8); .2 flags 7 with 5 positive (P = 5/7 < .8). So .3, recall 5/5.
    y = [0, 0, 1, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    r = choose_threshold(y, p, target_precision=0.8, min_positives=1)
    assert r["threshold"] == 0.3
    assert (r["precision"], r["recall"]) == pytest.approx((5 / 6, 1.0))
    # NaN labels are ignored: adding an unlabelled high-scoring row changes nothing.
    r_nan = choose_threshold(y + [np.nan], p + [0.95], target_precision=0.8, min_positives=1)
    assert r_nan == r


def test_choose_threshold_falls_back_to_max_f1() -> None:
    # The top score is a negative, so precision never exceeds 2/3 and 0.9 is unreachable.
    # Thresholds (desc) with (tp, flagged) and F1 = 2tp / (flagged + 2 positives):
    # .9 (0,1) F1=0; .8 (1,2) F1=2/4=.5; .7 (2,3) F1=4/5=.8; .2 (2,4) F1=4/6.
    y = [0, 1, 1, 0]
    p = [0.9, 0.8, 0.7, 0.2]
    r = choose_threshold(y, p, target_precision=0.9, min_positives=1)
    assert r["threshold"] == 0.7
    assert r["f1"] == pytest.approx(0.8)
    assert "max-F1" in r["rule"] and "0.90" in r["rule"]


def test_choose_threshold_too_few_positives_uses_documented_fallback() -> None:
    r = choose_threshold([1, 0, 0, 1, np.nan], [0.9, 0.2, 0.4, 0.6, 0.99], min_positives=5)
    assert r["threshold"] == 0.5
    assert "only 2 labelled positives" in r["rule"]
    assert (r["n"], r["positives"]) == (4, 2)
    assert (r["precision"], r["recall"]) == (1.0, 1.0)  # .9 and .6 flagged, both positive
    r = choose_threshold([1, 0], [0.9, 0.2], min_positives=5, fallback_threshold=0.95)
    assert r["threshold"] == 0.95 and r["recall"] == 0.0


def test_choose_threshold_soft_labels_binarised() -> None:
    soft = choose_threshold([0.1, 0.7, 0.6, 0.2], [0.2, 0.9, 0.8, 0.3], min_positives=1)
    hard = choose_threshold([0, 1, 1, 0], [0.2, 0.9, 0.8, 0.3], min_positives=1)
    assert soft == hard and soft["threshold"] == 0.8


# ----------------------------------------------------------------------------- best_threshold_for


def test_best_threshold_for_span_f1() -> None:
    # Toy span head: per-character probabilities for two posts; gold offsets below.
    probs = [np.array([0.9, 0.6, 0.2, 0.1]), np.array([0.3, 0.1, 0.05])]
    gold = [[0, 1], []]

    def score(threshold: float) -> float:
        predicted = [np.flatnonzero(p >= threshold).tolist() for p in probs]
        return span_f1(predicted, gold)

    # .25 -> post 1 {0,1} (F1 1), post 2 {0} (0) = .5; .5 -> {0,1} & {} = 1; .7 -> {0}: 2/3, 1.
    threshold, best = best_threshold_for(score, [0.25, 0.5, 0.7])
    assert (threshold, best) == (0.5, 1.0)


def test_best_threshold_for_ties_nan_and_empty() -> None:
    assert best_threshold_for(lambda t: 1.0, [0.4, 0.2]) == (0.4, 1.0)  # first wins ties
    assert best_threshold_for(lambda t: float("nan") if t < 0.3 else t, [0.1, 0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError):
        best_threshold_for(lambda t: 1.0, [])


def test_threshold_below_the_precision_floor_means_never_flag():
    from training.calibration import choose_threshold

    # positives scattered among negatives: the best F1 has precision well under 0.5
    y = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    p = [i / 20 for i in range(20)]
    result = choose_threshold(y, p, target_precision=0.8, min_precision=0.5)
    assert result["threshold"] is None and "never flagged" in result["rule"]
    assert result["precision"] == 0.0 and result["recall"] == 0.0
    loose = choose_threshold(y, p, target_precision=0.8, min_precision=0.1)
    assert loose["threshold"] is not None


def test_scorer_never_flags_an_attribute_with_a_null_threshold(tiny_scorer):
    tiny_scorer.thresholds["attributes"]["sarcasm"]["threshold"] = None
    result = tiny_scorer.score("Oh great, another genius.")
    assert "sarcasm" not in result.flags and result.scores["sarcasm"] is not None
