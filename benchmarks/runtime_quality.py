"""Quality of the runtime form against the PyTorch reference on the validation data: ROC-AUC
of every attribute (pooled over sources, as in the model card) for both, and the gap.

    .venv/bin/python benchmarks/runtime_quality.py [--data-dir ../shared/datasets]
        [--max-per-source 1000] [--batch-size 16] [--sources ucc]
        [--precision fp32 int8] [--name runtime_quality]

The validation records are the training pipeline's (configs/release.yaml's sources and seed;
official test splits are not in the data folder). The target: every attribute within 0.005.

The guard is judged on the ROC-AUC of the raw logits, the ranking the network produces.
The calibrated scores' ROC-AUC is printed too but is not a fair test of a runtime form:
isotonic calibrators (incivility, condescension, sarcasm, identity_attack) were fitted on
these same validation records and map ranges of logits to one value (sarcasm's 893 UCC
records get 15 distinct scores, one tie of 352), so any perturbation moves records off the
steps they were fitted to and always costs ROC-AUC in sample; refitted on one half and scored
on the other, the same forms' mean gap is about zero. Attributes with fewer than
``MIN_POSITIVES`` positives in the sample are shown but not judged (with one positive, one
comment moving two places is a 0.008 gap).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ROOT, SHARED, save, table

from model.artifact import RELEASE_DIR
from model.loading import DEFAULT_PRECISION, PRECISIONS, load_scorer

TOLERANCE = 0.005
MIN_POSITIVES = 10


def validation_records(data_dir: Path, max_per_source: int, sources: list[str] | None) -> list:
    from training.config import load_config
    from training.data.corpus import load_configured
    from training.pipeline import validation_sample

    config = load_config(str(ROOT / "configs" / "release.yaml"),
                         [f"data.data_dir={data_dir}",
                          f"data.max_validation_per_source={max_per_source}",
                          f"data.label_map={ROOT / 'configs' / 'labels.yaml'}"])
    chosen = {k: v for k, v in config.data.sources.items() if not sources or k in sources}
    return validation_sample(load_configured(config, chosen), config)


def logit_roc_auc(scorer, records: list, rows: list[dict]) -> dict[str, float]:
    """ROC-AUC of each attribute's raw logits against the records' labels (where labelled)."""
    import numpy as np

    from model.evaluation import label_matrix
    from model.metrics import binarise, roc_auc

    attributes = scorer.config.attributes
    labels = label_matrix([r.labels for r in records], attributes)
    out = {}
    for column, attribute in enumerate(attributes):
        logits = np.array([row["logits"].get(attribute, np.nan) for row in rows], dtype=float)
        keep = ~np.isnan(labels[:, column]) & ~np.isnan(logits)
        target = binarise(labels[keep, column])
        if 0 < target.sum() < len(target):
            out[attribute] = float(roc_auc(target, logits[keep]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--max-per-source", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sources", nargs="+", help="only these sources (configs/release.yaml)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=[DEFAULT_PRECISION],
                        help="runtime forms to compare with PyTorch (one PyTorch pass for all)")
    parser.add_argument("--name", default="runtime_quality", help="results file name")
    args = parser.parse_args()
    from training import validation

    records = validation_records(args.data_dir, args.max_per_source, args.sources)
    print(f"{len(records)} validation records from {len({r.source for r in records})} sources")
    forms = {precision: load_scorer(args.model, backend="onnx", precision=precision)
             for precision in args.precision}
    forms["pytorch"] = load_scorer(args.model, backend="torch")
    metrics, ranking, seconds = {}, {}, {}
    for name, scorer in forms.items():
        started = time.perf_counter()
        rows = validation.predict(scorer, records, batch_size=args.batch_size, spans=False)
        seconds[name] = time.perf_counter() - started
        metrics[name] = validation.metrics_by_source(scorer, records, rows)["all"]
        ranking[name] = logit_roc_auc(scorer, records, rows)
    attributes = [a for a, m in metrics["pytorch"].items()
                  if isinstance(m, dict) and m.get("roc_auc") is not None]
    judged = [a for a in attributes if metrics["pytorch"][a]["positives"] >= MIN_POSITIVES]
    gaps = {p: {a: ranking[p][a] - ranking["pytorch"][a] for a in attributes}
            for p in args.precision}
    calibrated_gaps = {p: {a: metrics[p][a]["roc_auc"] - metrics["pytorch"][a]["roc_auc"]
                           for a in attributes} for p in args.precision}
    rows = []
    for attribute in attributes:
        reference = metrics["pytorch"][attribute]
        row = [attribute, reference["n"], reference["positives"], ranking["pytorch"][attribute]]
        for precision in args.precision:
            gap = gaps[precision][attribute]
            verdict = ("" if attribute not in judged else
                       " ok" if abs(gap) <= TOLERANCE else " OVER")
            row += [ranking[precision][attribute], f"{gap:+.4f}{verdict}",
                    f"{calibrated_gaps[precision][attribute]:+.4f}"]
        rows.append(row)
    header = ["attribute", "n", "positives", "ROC-AUC pytorch"]
    for precision in args.precision:
        header += [f"ROC-AUC {precision}", f"gap {precision}", f"calibrated gap {precision}"]
    print(table(header, rows))
    passes = {}
    for precision in args.precision:
        worst = max(judged, key=lambda a: abs(gaps[precision][a]))
        passes[precision] = all(abs(gaps[precision][a]) <= TOLERANCE for a in judged)
        print(f"{precision}: scoring {seconds[precision]:.0f} s (PyTorch {seconds['pytorch']:.0f}"
              f" s, {seconds['pytorch'] / seconds[precision]:.1f}x); largest gap {worst} "
              f"{gaps[precision][worst]:+.4f}; every attribute with {MIN_POSITIVES}+ positives "
              f"within {TOLERANCE}: {passes[precision]}")

    def chart(axes) -> None:
        height = 0.8 / len(args.precision)
        for i, precision in enumerate(args.precision):
            axes.barh([y + i * height for y in range(len(attributes))],
                      [gaps[precision][a] for a in attributes], height=height, label=precision)
        axes.set_yticks([y + 0.4 - height / 2 for y in range(len(attributes))], attributes)
        for bound in (-TOLERANCE, TOLERANCE):
            axes.axvline(bound, color="tab:red", linestyle="--")
        axes.set_xlabel("ROC-AUC of the logits, runtime form - PyTorch fp32, validation")
        axes.set_title("Runtime form quality guard (red: +-0.005)")
        axes.legend()

    save(args.name, {"sources": args.sources or "all", "records": len(records),
                     "tolerance": TOLERANCE, "min_positives": MIN_POSITIVES,
                     "judged": judged, "passes": passes, "metrics": metrics,
                     "logit_roc_auc": ranking, "gaps": gaps,
                     "calibrated_gaps": calibrated_gaps, "seconds": seconds}, chart)


if __name__ == "__main__":
    main()
