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
from int8_sweep import CANDIDATES, auc_metrics, build_candidate, calibration_texts
from runtime_quality import validation_records

from model.artifact import RELEASE_DIR
from model.calibration import apply_calibration
from model.evaluation import label_matrix
from model.loading import build_runtime
from model.metrics import binarise, roc_auc
from model.runtime import OnnxScorer
from model.runtime_build import weight_nodes
from training.calibration import fit_isotonic

ISOTONIC = ("incivility", "condescension", "sarcasm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["int8", "smooth08_split8"])
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--calibration", choices=("shipped", "civil_comments"), default="shipped",
                        help="texts for SmoothQuant's activation peaks")
    args = parser.parse_args()
    import onnx

    fp32_dir = build_runtime(RELEASE_DIR, precision="fp32")
    fused = fp32_dir / "comment.onnx"
    fp32 = OnnxScorer.from_pretrained(RELEASE_DIR, fp32_dir)
    families = weight_nodes(onnx.load(str(fused)), fp32.config.encoder["hidden_size"])
    records = validation_records(SHARED, 3000, ["ucc"])
    _, reference, _ = auc_metrics(fp32, records, 16)
    names = fp32.config.attributes
    labels = label_matrix([r.labels for r in records], names)
    rng = np.random.default_rng(0)
    splits = [rng.permutation(len(records)) for _ in range(args.splits)]
    texts = calibration_texts(SHARED, args.calibration)
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.candidates:
            pick, _ = CANDIDATES[name]
            nodes = [n for n, (f, k) in families.items() if pick(f, k)]
            candidate = build_candidate(name, nodes, fp32_dir, Path(scratch), texts, fp32,
                                        families)
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
