"""training/compare.py: bootstrap metrics against the plain numpy metrics, flag changes, gate."""

from __future__ import annotations

import numpy as np
import pytest

from model.metrics import average_precision, precision_recall_f1, roc_auc
from training.compare import (
    compare_arrays,
    flag_changes,
    gate,
    largest_changes,
    paired_metrics,
    reliability,
    resample_counts,
    weighted_f1,
    weighted_ranking_metrics,
)


def noisy_data(n: int = 400, seed: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    old = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1)
    new = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1)
    return y, np.round(old, 2), np.round(new, 2)  # rounding makes ties


def test_weighted_metrics_with_unit_weights_equal_the_plain_metrics():
    y, old, _ = noisy_data()
    auc, ap = weighted_ranking_metrics(y, old, np.ones((1, y.size)))
    assert auc[0] == pytest.approx(roc_auc(y, old), abs=1e-12)
    assert ap[0] == pytest.approx(average_precision(y, old), abs=1e-12)
    f1 = weighted_f1(y, old >= 0.5, np.ones((1, y.size)))
    assert f1[0] == pytest.approx(precision_recall_f1(y, (old >= 0.5).astype(int))[2])


def test_weighted_metrics_equal_the_metrics_of_the_expanded_resample():
    y, old, _ = noisy_data()
    counts = resample_counts(y.size, n_resamples=4, seed=9)
    assert counts.shape == (4, y.size) and np.all(counts.sum(axis=1) == y.size)
    auc, ap = weighted_ranking_metrics(y, old, counts)
    for b in range(4):
        rows = np.repeat(np.arange(y.size), counts[b].astype(int))
        assert auc[b] == pytest.approx(roc_auc(y[rows], old[rows]), abs=1e-12)
        assert ap[b] == pytest.approx(average_precision(y[rows], old[rows]), abs=1e-12)


def test_resample_without_a_class_gives_nan():
    auc, ap = weighted_ranking_metrics([0, 1], [0.2, 0.9], np.array([[2.0, 0.0], [1.0, 1.0]]))
    assert np.isnan(auc[0]) and np.isnan(ap[0])
    assert auc[1] == 1.0 and ap[1] == 1.0


def test_paired_metrics_points_intervals_and_seed():
    y, old, new = noisy_data()
    result = paired_metrics(y, old, new, old_threshold=0.5, new_threshold=0.6, n_resamples=300,
                            seed=1)
    auc = result["roc_auc"]
    assert auc["old"] == pytest.approx(roc_auc(y, old))
    assert auc["diff"] == pytest.approx(auc["new"] - auc["old"])
    for key in ("old", "new", "diff"):
        low, high = auc[f"{key}_ci"]
        assert low < auc[key] < high
    assert auc["diff_ci"][0] > 0  # the new scores separate the classes twice as well
    f1 = result["f1"]
    assert f1["new"] == pytest.approx(precision_recall_f1(y, (new >= 0.6).astype(int))[2])
    again = paired_metrics(y, old, new, old_threshold=0.5, new_threshold=0.6, n_resamples=300,
                           seed=1)
    assert again == result
    other = paired_metrics(y, old, new, old_threshold=0.5, new_threshold=0.6, n_resamples=300,
                           seed=2)
    assert other["roc_auc"]["diff_ci"] != auc["diff_ci"]


def test_identical_models_differ_by_exactly_zero():
    y, old, _ = noisy_data()
    result = paired_metrics(y, old, old, old_threshold=0.5, new_threshold=0.5, n_resamples=50)
    for metric in result.values():
        assert metric["diff"] == 0.0 and metric["diff_ci"] == [0.0, 0.0]


def test_flag_changes_by_hand():
    y = [1, 1, 0, 0, 1, 0]
    old = [0.9, 0.2, 0.8, 0.1, 0.6, 0.3]
    new = [0.9, 0.7, 0.2, 0.6, 0.3, 0.3]
    changes = flag_changes(y, old, new, old_threshold=0.5, new_threshold=0.5)
    assert changes == {
        "old_flagged": 3, "new_flagged": 3,
        "newly_flagged": 2, "newly_flagged_positive": 1, "newly_flagged_negative": 1,
        "unflagged": 2, "unflagged_positive": 1, "unflagged_negative": 1,
    }


def test_largest_changes_in_both_directions():
    old = np.array([0.1, 0.5, 0.5, 0.9, 0.3])
    new = np.array([0.8, 0.5, 0.6, 0.2, 0.3])
    assert largest_changes(old, new, top=2) == {"rises": [0, 2], "falls": [3]}


def test_reliability_bins_by_hand():
    curve = reliability([0, 1, 1, 0], [0.05, 0.15, 0.95, 1.0], n_bins=10)
    assert curve["count"] == [1, 1, 2]
    assert curve["mean_prob"] == pytest.approx([0.05, 0.15, 0.975])
    assert curve["positive_rate"] == pytest.approx([0.0, 1.0, 0.5])


def test_compare_arrays_per_group_skips_unlabelled_and_unscored():
    y, old, new = noisy_data(200)
    labels = np.c_[y, np.full(200, np.nan)].astype(float)
    labels[:10, 0] = np.nan
    old_m, new_m = np.c_[old, old], np.c_[new, new]
    new_m[10:20, 0] = np.nan  # e.g. off_topic without context
    groups = ["a.jsonl"] * 100 + ["b.jsonl"] * 100
    result = compare_arrays(labels, old_m, new_m, names=["incivility", "insult"], groups=groups,
                            old_thresholds={"incivility": 0.5, "insult": 0.5},
                            new_thresholds={"incivility": 0.5, "insult": 0.5}, n_resamples=50)
    assert list(result["attributes"]) == ["incivility"]  # insult has no labels
    entry = result["attributes"]["incivility"]
    assert set(entry) == {"all", "a.jsonl", "b.jsonl"}
    assert entry["all"]["n"] == 180 and entry["a.jsonl"]["n"] == 80
    assert entry["all"]["metrics"]["roc_auc"]["old"] == pytest.approx(roc_auc(y[20:], old[20:]))
    assert set(entry["all"]["largest_changes"]["rises"]) <= set(range(20, 200))
    assert "calibration" in entry["all"] and "calibration" not in entry["a.jsonl"]


def test_gate_fails_on_a_worse_attribute_and_ignores_undefined():
    def report(diffs):
        return {"attributes": {name: {"all": {"metrics": {"roc_auc": {"diff": d}}}}
                               for name, d in diffs.items()}}

    passed = gate(report({"incivility": -0.005, "threat": None}), tolerance=0.01)
    assert passed == {"passed": True, "metric": "roc_auc", "tolerance": 0.01, "worse": [],
                      "undecided": ["threat"]}
    failed = gate(report({"incivility": 0.02, "insult": -0.03}), tolerance=0.01)
    assert not failed["passed"] and failed["worse"] == ["insult"]
    with pytest.raises(ValueError, match="metric"):
        gate(report({}), metric="accuracy")


def test_reliability_bins_exact_decimal_edges_as_the_ece_does():
    """The ECE's edge 3/10 is 0.30000000000000004 in floats, so p = 0.3 shares a bin with 0.25
    there; flooring 0.3 * 10 (= 3.0000000000000004) would split them, and the curve would no
    longer add up to the ECE reported next to it."""
    from model.metrics import expected_calibration_error

    y, p = [0, 1, 1, 0, 1, 0], [0.25, 0.3, 0.7, 0.6, 0.1, 1.0]
    curve = reliability(y, p, n_bins=10)
    weighted = sum(n * abs(r - m) for n, r, m in zip(curve["count"], curve["positive_rate"],
                                                     curve["mean_prob"], strict=True))
    assert weighted / len(y) == pytest.approx(expected_calibration_error(y, p, n_bins=10))
    assert curve["count"] == [1, 2, 1, 1, 1]
