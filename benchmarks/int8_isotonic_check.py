"""Is the guard's gap on isotonic-calibrated attributes a quality loss or an artefact of
evaluating on the records the calibrator was fitted on? Refit the isotonic calibrator (as
training does) on one random half of the UCC validation logits of the fp32 graph, and compare
the calibrated ROC-AUC of fp32 and a quantised candidate on the other half; 40 splits.

    nice -n 5 .venv/bin/python benchmarks/int8_isotonic_check.py [--candidates int8 ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from common import SHARED
from int8_sweep import (
    add_calibration_option,
    auc_metrics,
    build_candidate,
    calibration_texts,
    fp32_baseline,
)
from runtime_quality import validation_records

from model.calibration import apply_calibration
from model.evaluation import label_matrix
from model.metrics import binarise, roc_auc
from training.calibration import fit_isotonic

ISOTONIC = ("incivility", "condescension", "sarcasm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["int8", "smooth08_split8"])
    parser.add_argument("--splits", type=int, default=40)
    add_calibration_option(parser)
    args = parser.parse_args()

    fp32_dir, fp32, families = fp32_baseline()
    records = validation_records(SHARED, 3000, ["ucc"])
    _, reference, _ = auc_metrics(fp32, records, 16)
    names = fp32.config.attributes
    labels = label_matrix([r.labels for r in records], names)
    rng = np.random.default_rng(0)
    splits = [rng.permutation(len(records)) for _ in range(args.splits)]
    texts = calibration_texts(SHARED, args.calibration)
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.candidates:
            candidate = build_candidate(name, fp32_dir, Path(scratch), texts, fp32, families)
            _, logits, _ = auc_metrics(candidate, records, 16)
            for attribute in ISOTONIC:
                y = labels[:, names.index(attribute)]
                gaps = []
                for order in splits:
                    fit, held = order[: len(order) // 2], order[len(order) // 2:]
                    calibrator = fit_isotonic(reference[attribute][fit], y[fit])
                    truth = binarise(y[held])
                    gaps.append(
                        roc_auc(truth, apply_calibration(logits[attribute][held], calibrator))
                        - roc_auc(truth, apply_calibration(reference[attribute][held],
                                                           calibrator)))
                in_sample = (roc_auc(binarise(y), apply_calibration(
                    logits[attribute], fp32.calibration[attribute]))
                    - roc_auc(binarise(y), apply_calibration(
                        reference[attribute], fp32.calibration[attribute])))
                print(f"{name:16s} {attribute:14s} in-sample (release calibrator) "
                      f"{in_sample:+.4f}; held-out halves: mean {np.mean(gaps):+.4f}, "
                      f"median {np.median(gaps):+.4f}, "
                      f"max |gap| {np.max(np.abs(gaps)):.4f}", flush=True)


if __name__ == "__main__":
    main()
