"""Tests for model/calibration.py: applying calibrator dicts to raw logits."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from model.calibration import apply_calibration, sigmoid

LOGITS = np.array([-3.0, -0.5, 0.0, 1.0, 4.0])


def test_sigmoid_values_and_stability() -> None:
    assert sigmoid([0.0]).tolist() == [0.5]
    assert sigmoid(np.log(3.0)) == pytest.approx(0.75)  # 1 / (1 + 1/3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail the test
        extreme = sigmoid(np.array([-1000.0, 1000.0]))
    assert extreme.tolist() == [0.0, 1.0]


def test_identity_is_plain_sigmoid() -> None:
    got = apply_calibration(LOGITS, {"method": "identity"})
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-LOGITS)), rtol=1e-12)


def test_temperature_divides_the_logit() -> None:
    # T = 2 turns logit 2*ln(3) into ln(3) -> 0.75.
    got = apply_calibration([2 * np.log(3.0)], {"method": "temperature", "temperature": 2.0})
    assert got[0] == pytest.approx(0.75)
    got = apply_calibration(LOGITS, {"method": "temperature", "temperature": 0.5})
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-2 * LOGITS)), rtol=1e-12)


def test_platt_formula() -> None:
    # a=2, b=-1 at logit 0.5: sigmoid(0) = 0.5; at logit (ln 3 + 1)/2: sigmoid(ln 3) = 0.75.
    cal = {"method": "platt", "a": 2.0, "b": -1.0}
    got = apply_calibration([0.5, (np.log(3.0) + 1) / 2], cal)
    np.testing.assert_allclose(got, [0.5, 0.75], rtol=1e-12)


def test_isotonic_interpolates_and_clips() -> None:
    cal = {"method": "isotonic", "x": [-1.0, 0.0, 2.0], "y": [0.1, 0.3, 0.9]}
    # -5 -> clipped to 0.1; -0.5 -> halfway .1..3 = .2; 1 -> halfway .3..9 = .6; 9 -> .9.
    got = apply_calibration([-5.0, -0.5, 1.0, 9.0], cal)
    np.testing.assert_allclose(got, [0.1, 0.2, 0.6, 0.9])


def test_shape_preserved_and_json_round_trip() -> None:
    cal = {"method": "platt", "a": 0.7, "b": 0.2, "selection": {"metric": "x"}}
    restored = json.loads(json.dumps(cal))
    logits = np.arange(6.0).reshape(2, 3) - 2
    got = apply_calibration(logits, restored)
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got, apply_calibration(logits, cal))


def test_unknown_method_is_named() -> None:
    with pytest.raises(ValueError, match="'beta'"):
        apply_calibration(LOGITS, {"method": "beta"})
    with pytest.raises(ValueError, match="None"):
        apply_calibration(LOGITS, {})


@pytest.mark.parametrize(
    "calibrator",
    [
        {"method": "temperature"},
        {"method": "temperature", "temperature": 0.0},
        {"method": "platt", "a": 1.0},
        {"method": "platt", "a": float("nan"), "b": 0.0},
        {"method": "isotonic", "x": [], "y": []},
        {"method": "isotonic", "x": [0.0, 1.0], "y": [0.5]},
        {"method": "isotonic", "x": [1.0, 0.0], "y": [0.2, 0.5]},
    ],
)
def test_malformed_calibrators_raise(calibrator: dict) -> None:
    with pytest.raises(ValueError):
        apply_calibration(LOGITS, calibrator)
