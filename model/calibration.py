"""Applying probability calibration at inference time (numpy only).

A calibrator is a small JSON-able dict saved next to the model, one per attribute:

* ``{"method": "identity"}``: ``p = sigmoid(logit)``
* ``{"method": "temperature", "temperature": T}``: ``p = sigmoid(logit / T)``
* ``{"method": "platt", "a": a, "b": b}``: ``p = sigmoid(a * logit + b)``
* ``{"method": "isotonic", "x": [...], "y": [...]}``: ``p = interp(logit, x, y)`` with ``x``
  the ascending raw-logit breakpoints and ``y`` the probabilities there; flat beyond the ends.
* ``{"method": "centred_isotonic", "x": [...], "y": [...]}``: applied as ``isotonic``; its
  breakpoints are the centres of isotonic regression's steps, so it rises between them.

The input is always the model's raw logit, never a probability: the fitting code in
``training/calibration.py`` fits on logits, and applying a calibrator to an already-squashed
value would silently produce wrong probabilities. Extra keys (e.g. ``"selection"``
diagnostics) are ignored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["METHODS", "apply_calibration", "sigmoid"]

METHODS: tuple[str, ...] = ("identity", "temperature", "platt", "isotonic", "centred_isotonic")


def sigmoid(x: ArrayLike) -> NDArray[np.float64]:
    """Numerically stable logistic function.

    ``0.5 * (1 + tanh(x / 2))`` equals ``1 / (1 + exp(-x))`` but never overflows for large
    negative logits.

    >>> sigmoid([0.0]).tolist()
    [0.5]
    """
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def _number(calibrator: Mapping[str, Any], key: str) -> float:
    try:
        value = float(calibrator[key])
    except KeyError:
        raise ValueError(f"{calibrator.get('method')} calibrator is missing {key!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{calibrator.get('method')} calibrator has non-finite {key!r}: {value}")
    return value


def apply_calibration(logits: ArrayLike, calibrator: Mapping[str, Any]) -> NDArray[np.float64]:
    """Map raw logits to calibrated probabilities with a calibrator dict.

    Works elementwise on any shape. Raises ``ValueError`` for an unknown method or a malformed
    calibrator, so a corrupt model directory fails at load/first use instead of mis-scoring.

    >>> apply_calibration(np.array([0.0, 2.0]), {"method": "temperature", "temperature": 2.0})
    array([0.5       , 0.73105858])
    >>> apply_calibration([-5.0, 0.5, 5.0], {"method": "isotonic", "x": [0, 1], "y": [0.2, 0.6]})
    array([0.2, 0.4, 0.6])
    """
    z = np.asarray(logits, dtype=np.float64)
    method = calibrator.get("method")
    if method == "identity":
        return sigmoid(z)
    if method == "temperature":
        temperature = _number(calibrator, "temperature")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return sigmoid(z / temperature)
    if method == "platt":
        return sigmoid(_number(calibrator, "a") * z + _number(calibrator, "b"))
    if method in ("isotonic", "centred_isotonic"):
        x = np.asarray(calibrator.get("x", []), dtype=np.float64)
        y = np.asarray(calibrator.get("y", []), dtype=np.float64)
        if x.ndim != 1 or x.size == 0 or x.shape != y.shape:
            raise ValueError(f"{method} calibrator needs equal-length, non-empty 'x' and 'y'")
        if np.any(np.diff(x) < 0):
            # np.interp gives garbage (not an error) for unsorted x.
            raise ValueError(f"{method} calibrator 'x' must be ascending")
        # np.interp holds y[0] / y[-1] beyond the ends: the clipping we want.
        return np.interp(z, x, y)
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
