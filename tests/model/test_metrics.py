"""Tests for model/metrics.py: hand-computed values first, then agreement with scikit-learn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from model.metrics import (
    average_precision,
    binarise,
    expected_calibration_error,
    format_metrics_table,
    per_label_metrics,
    precision_recall_f1,
    roc_auc,
    span_f1,
)

# ----------------------------------------------------------------------------- roc_auc


def test_roc_auc_by_hand() -> None:
    # Positives 0.35, 0.8; negatives 0.1, 0.4. Pairs won by the positive: (0.35>0.1),
    # (0.8>0.1), (0.8>0.4) = 3 of 4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75, abs=1e-12)


def test_roc_auc_ties_count_half() -> None:
    # Positives 0.5, 0.9; negatives 0.5, 0.2. Pairs: (0.5 vs 0.5) tie = 0.5, (0.5>0.2) = 1,
    # (0.9 beats both) = 2 -> 3.5 / 4.
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875, abs=1e-12)
    # All scores equal: every pair is a tie -> 0.5.
    assert roc_auc([0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5, abs=1e-12)


def test_roc_auc_one_class_is_nan() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(roc_auc([], []))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_roc_auc_matches_sklearn(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
    y[0], y[1] = 0, 1  # make sure both classes are present
    score = rng.normal(size=n) + y * rng.uniform(0, 2)
    if decimals is not None:
        score = np.round(score, decimals)  # coarse rounding creates many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-9)


# ----------------------------------------------------------------------------- average_precision


def test_average_precision_by_hand() -> None:
    # Sorted: 0.9(+) 0.8(-) 0.3(+) 0.1(-). Recall steps at 0.9 (P=1, +1/2) and at 0.3
    # (P=2/3, +1/2): AP = 1/2 + 1/3.
    assert average_precision([0, 1, 0, 1], [0.1, 0.9, 0.8, 0.3]) == pytest.approx(5 / 6)


def test_average_precision_ties_form_one_threshold() -> None:
    # 0.9(+), then a tie at 0.5 holding one + and two -. Threshold 0.9: P=1, R=1/2. Threshold
    # 0.5 admits all three at once: P=2/4, R=1. AP = 1/2*1 + 1/2*1/2 = 0.75. (Ranking the
    # positive first inside the tie would wrongly give 1.0.)
    assert average_precision([1, 0, 0, 1], [0.9, 0.5, 0.5, 0.5]) == pytest.approx(0.75)


def test_average_precision_no_positives_is_nan() -> None:
    assert math.isnan(average_precision([0, 0, 0], [0.1, 0.5, 0.9]))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_average_precision_matches_sklearn(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 400))
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
    y[0] = 1
    score = rng.normal(size=n) + y * rng.uniform(0, 2)
    if decimals is not None:
        score = np.round(score, decimals)
    assert average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-9)


def test_ranking_metrics_reject_soft_labels() -> None:
    with pytest.raises(ValueError, match="binarise"):
        roc_auc([0.2, 1.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="length"):
        average_precision([0, 1], [0.1])


# ----------------------------------------------------------------------------- precision / recall


def test_precision_recall_f1_by_hand() -> None:
    # tp=2 (rows 0,1), fp=1 (row 3), fn=1 (row 2): P=2/3, R=2/3, F1=2/3.
    p, r, f = precision_recall_f1([1, 1, 1, 0, 0], [1, 1, 0, 1, 0])
    assert (p, r, f) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_precision_recall_f1_zero_division_is_zero() -> None:
    assert precision_recall_f1([1, 1, 0], [0, 0, 0]) == (0.0, 0.0, 0.0)  # nothing predicted
    assert precision_recall_f1([0, 0, 0], [0, 0, 0]) == (0.0, 0.0, 0.0)  # nothing at all
    assert precision_recall_f1([0, 0], [1, 0]) == (0.0, 0.0, 0.0)  # only false positives


# ----------------------------------------------------------------------------- ECE


def test_ece_by_hand() -> None:
    # Two bins. [0, .5): p=.1,.3 (mean .2), y=0,1 (mean .5) -> 2/4 * .3 = .15.
    # [.5, 1]: p=.9,.9, y=1,1 -> 2/4 * .1 = .05. Total .2.
    ece = expected_calibration_error([0, 1, 1, 1], [0.1, 0.3, 0.9, 0.9], n_bins=2)
    assert ece == pytest.approx(0.2)


def test_ece_bin_edges() -> None:
    # 0.5 sits on the edge and belongs to the upper bin: bin0 = {.4 (y=1)} -> 1/2 * .6,
    # bin1 = {.5 (y=0)} -> 1/2 * .5; total .55. (Pooled together it would be .05.)
    assert expected_calibration_error([1, 0], [0.4, 0.5], n_bins=2) == pytest.approx(0.55)
    # 1.0 lands in the last bin rather than an out-of-range one.
    assert expected_calibration_error([1, 1], [1.0, 1.0], n_bins=15) == pytest.approx(0.0)
    assert expected_calibration_error([0, 0], [0.0, 0.0]) == pytest.approx(0.0)


def test_ece_perfectly_calibrated_bins_and_errors() -> None:
    # Each bin's mean label equals its mean probability -> 0: p=.25 with 1 of 4 positive,
    # p=.5 with 1 of 2, p=.75 with 3 of 4 (bins of width .25).
    y = [1, 0, 0, 0, 1, 0, 1, 1, 1, 0]
    p = [0.25] * 4 + [0.5] * 2 + [0.75] * 4
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.0, abs=1e-12)
    # Flip one p=.75 negative to positive: that bin is off by 1/4, weight 4/10 -> 0.1.
    y[-1] = 1
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.1)
    assert math.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError):
        expected_calibration_error([1], [1.2])


def test_ece_single_bin_is_global_gap() -> None:
    # One bin: |mean(y) - mean(p)| = |0.5 - 0.8|.
    assert expected_calibration_error([0, 1], [0.7, 0.9], n_bins=1) == pytest.approx(0.3)


# ----------------------------------------------------------------------------- span_f1


def test_span_f1_edge_cases() -> None:
    assert span_f1([[]], [[]]) == 1.0  # no gold, nothing predicted: perfect
    assert span_f1([[3, 4]], [[]]) == 0.0  # no gold, something predicted
    assert span_f1([[]], [[3, 4]]) == 0.0  # gold, nothing predicted
    assert span_f1([[1, 2]], [[5, 6]]) == 0.0  # disjoint
    assert span_f1([range(5)], [{0, 1, 2, 3, 4}]) == 1.0  # any iterables work


def test_span_f1_by_hand_mean_over_posts() -> None:
    # Post 1: P={1,2,3}, G={2,3,4,5}: 2*2/(3+4) = 4/7. Post 2: both empty = 1. Post 3: 0.
    got = span_f1([[1, 2, 3], [], [9]], [[2, 3, 4, 5], [], []])
    assert got == pytest.approx((4 / 7 + 1 + 0) / 3)


def test_span_f1_duplicates_are_sets_and_bad_input() -> None:
    assert span_f1([[1, 1, 2]], [[1, 2]]) == 1.0
    assert math.isnan(span_f1([], []))
    with pytest.raises(ValueError):
        span_f1([[1]], [[1], [2]])


# ----------------------------------------------------------------------------- binarise


def test_binarise() -> None:
    assert binarise([0.0, 0.49, 0.5, 0.7, 1.0]).tolist() == [0, 0, 1, 1, 1]
    assert binarise([0.3, 0.7], at=0.8).tolist() == [0, 0]
    assert binarise(np.array([[0.2, 0.9]])).shape == (1, 2)
    with pytest.raises(ValueError, match="NaN"):
        binarise([0.1, np.nan])


# ----------------------------------------------------------------------------- per_label_metrics


def test_per_label_metrics_masks_nan_and_binarises() -> None:
    nan = np.nan
    # Column "a": rows 2 and 4 unlabelled; their probabilities would ruin the AUC if used.
    # Column "b": soft labels (0.67 -> 1, 0.33 -> 0). Column "c": never labelled.
    y_true = np.array(
        [
            [1.0, 0.67, nan],
            [0.0, 0.33, nan],
            [nan, 1.0, nan],
            [1.0, 0.0, nan],
            [nan, 0.0, nan],
        ]
    )
    y_prob = np.array(
        [
            [0.9, 0.8, 0.1],
            [0.2, 0.6, 0.1],
            [0.0, 0.7, 0.1],
            [0.6, 0.1, 0.1],
            [1.0, 0.65, 0.1],
        ]
    )
    m = per_label_metrics(
        y_true, y_prob, labels=["a", "b", "c"], thresholds={"a": 0.6, "b": 0.65, "c": 0.5}
    )
    assert set(m) == {"a", "b"}  # "c" has n == 0 and is omitted

    a = m["a"]
    # Labelled rows 0,1,3: y=(1,0,1), p=(.9,.2,.6). Both positives outrank the negative.
    assert (a["n"], a["positives"], a["unscored"]) == (3, 2, 0)
    assert a["roc_auc"] == pytest.approx(1.0)
    assert a["pr_auc"] == pytest.approx(1.0)
    # prob >= 0.6 flags rows 0 and 3 (0.6 is inclusive): P = R = F1 = 1.
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((1.0, 1.0, 1.0))
    assert a["threshold"] == 0.6
    # ECE with 15 bins: .9 (y=1) -> .1, .2 (y=0) -> .2, .6 (y=1) -> .4; mean = .7/3.
    assert a["ece"] == pytest.approx(0.7 / 3)

    b = m["b"]
    # y = (1, 0, 1, 0, 0), p = (.8, .6, .7, .1, .65). Positives .8, .7 vs negatives .6, .1,
    # .65: all 6 pairs won -> AUC 1. Threshold .65 flags rows 0, 2, 4 -> P=2/3, R=1, F1=.8.
    assert (b["n"], b["positives"]) == (5, 2)
    assert b["roc_auc"] == pytest.approx(1.0)
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))


def test_per_label_metrics_json_safe_and_matches_masked_subset() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random((200, 2)) < 0.3).astype(float)
    y[rng.random((200, 2)) < 0.25] = np.nan
    y[:, 1] = np.where(np.isnan(y[:, 1]), np.nan, 0.0)  # label "b": one class only
    p = rng.random((200, 2))
    m = per_label_metrics(y, p, labels=["a", "b"], thresholds={"a": 0.3, "b": 0.3})
    keep = ~np.isnan(y[:, 0])
    assert m["a"]["n"] == int(keep.sum())
    assert m["a"]["roc_auc"] == pytest.approx(roc_auc_score(y[keep, 0], p[keep, 0]), abs=1e-9)
    assert m["b"]["roc_auc"] is None and m["b"]["pr_auc"] is None
    json.dumps(m, allow_nan=False)  # would raise on NaN


def test_per_label_metrics_errors() -> None:
    y = np.array([[1.0], [0.0]])
    p = np.array([[0.9], [0.1]])
    with pytest.raises(KeyError):
        per_label_metrics(y, p, labels=["a"], thresholds={})
    with pytest.raises(ValueError):
        per_label_metrics(y, p, labels=["a", "b"], thresholds={"a": 0.5, "b": 0.5})


def test_per_label_metrics_skips_unscored_rows() -> None:
    # Row 1 is labelled but unscored (NaN prob, e.g. off_topic without context): skipped and
    # counted. Remaining rows 0, 2: y=(1, 0), p=(.9, .1) -> perfect ranking.
    y = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, np.nan]])
    p = np.array([[0.9, np.nan], [np.nan, np.nan], [0.1, 0.3]])
    m = per_label_metrics(y, p, labels=["a", "b"], thresholds={"a": 0.6, "b": 0.6})
    assert set(m) == {"a"}  # "b" has labels but no scores at all -> omitted
    assert (m["a"]["n"], m["a"]["unscored"], m["a"]["roc_auc"]) == (2, 1, 1.0)


# ----------------------------------------------------------------------------- table


def test_format_metrics_table() -> None:
    metrics = {
        "insult": {"n": 120, "positives": 30, "roc_auc": 0.91234, "pr_auc": None, "f1": 0.5},
        "personal_attack": {"n": 5, "positives": 0, "roc_auc": None, "threshold": 0.42},
    }
    text = format_metrics_table(metrics)
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == ["label", "n", "pos"]
    assert lines[1].startswith("insult ") and "0.912" in lines[1]
    assert lines[2].startswith("personal_attack") and "0.420" in lines[2]
    assert " - " in lines[1]  # None renders as '-'
    assert len({len(line) for line in lines}) == 1  # columns aligned
