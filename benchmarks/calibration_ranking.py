"""How a calibrator changes validation ROC-AUC: isotonic ties flatter it in sample.

    .venv/bin/python benchmarks/calibration_ranking.py [--data-dir ../shared/datasets]
        [--model model/release] [--attributes incivility personal_attack insult]
        [--folds 5] [--name calibration_ranking]

metrics.json reports ROC-AUC on calibrated scores, with each calibrator fitted on the same
validation records. A monotone calibrator cannot reorder scores, but isotonic regression ties
runs of them: pool-adjacent-violators merges exactly the neighbours the fitting data has in the
wrong order, so ties count half where those pairs counted nothing, and the in-sample ROC-AUC can
only rise. Centred isotonic (``training.calibration.fit_centred_isotonic``) keeps every distinct
logit distinct, so its ROC-AUC is the network's own. This script scores the validation records
of ``configs/recalibrate.yaml`` (the release's sample) once and prints, per attribute and
source, ROC-AUC of: the raw logits; isotonic fitted on all of them (as metrics.json reports it);
isotonic out of fold (fitted on the other folds, what new data would see); centred isotonic in
sample and out of fold. The result goes to ``benchmarks/results/NAME.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import ROOT, SHARED, save, table

from model.artifact import RELEASE_DIR

COLUMNS = ("raw logits", "isotonic in sample", "isotonic out of fold",
           "centred isotonic in sample", "centred isotonic out of fold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--attributes", nargs="+",
                        default=["incivility", "personal_attack", "insult"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="calibration_ranking", help="results file name")
    args = parser.parse_args()
    import numpy as np

    from model.calibration import apply_calibration
    from model.metrics import roc_auc
    from model.scorer import Scorer
    from training.calibration import fit_centred_isotonic, fit_isotonic, out_of_fold
    from training.config import load_config
    from training.data.corpus import load_configured, read_label_map
    from training.pipeline import validation_sample
    from training.validation import predict

    config = load_config(str(ROOT / "configs" / "recalibrate.yaml"),
                         [f"data.data_dir={args.data_dir}",
                          f"data.label_map={ROOT / 'configs' / 'labels.yaml'}"])
    records = validation_sample(load_configured(config, label_map=read_label_map(config)),
                                config)
    records = [r for r in records if any(a in r.labels for a in args.attributes)]
    scorer = Scorer.from_pretrained(args.model)
    unknown = [a for a in args.attributes if a not in scorer.config.attributes]
    if unknown:
        parser.error(f"--attributes: the model does not score {', '.join(unknown)}")
    rows = predict(scorer, records, batch_size=config.training.eval_batch_size, spans=False)
    rng = np.random.default_rng(args.seed)
    results, lines = {}, []
    for name in args.attributes:
        keep = [i for i, r in enumerate(records) if name in r.labels]
        z = np.array([rows[i]["logits"][name] for i in keep], dtype=float)
        y = (np.array([records[i].labels[name] for i in keep]) >= 0.5).astype(int)
        sources = np.array([records[i].source for i in keep])
        folds = rng.integers(0, args.folds, len(z))
        scores = {
            "raw logits": z,
            "isotonic in sample": apply_calibration(z, fit_isotonic(z, y)),
            "isotonic out of fold": out_of_fold(fit_isotonic, z, y, folds),
            "centred isotonic in sample": apply_calibration(z, fit_centred_isotonic(z, y)),
            "centred isotonic out of fold": out_of_fold(fit_centred_isotonic, z, y, folds),
        }
        results[name] = {}
        for source in ["all", *sorted(set(sources))]:
            rows_of = np.ones(len(z), bool) if source == "all" else sources == source
            if len(set(y[rows_of])) < 2:
                continue
            entry = {"n": int(rows_of.sum()), "positives": int(y[rows_of].sum()),
                     **{c: roc_auc(y[rows_of], scores[c][rows_of]) for c in COLUMNS}}
            results[name][source] = entry
            lines.append([name, source, entry["n"], entry["positives"],
                          *(f"{entry[c]:.4f}" for c in COLUMNS)])
    print(table(["attribute", "source", "n", "positives", *COLUMNS], lines))

    def chart(axes):
        names = list(results)
        width = 0.8 / len(COLUMNS)
        for j, column in enumerate(COLUMNS):
            axes.bar(np.arange(len(names)) + j * width,
                     [results[n]["all"][column] for n in names], width, label=column)
        axes.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
        low = min(results[n]["all"][c] for n in names for c in COLUMNS)
        axes.set(ylabel="validation ROC-AUC (all sources)", ylim=(low - 0.01, 1.0),
                 title=f"{scorer.config.tag}: ROC-AUC of raw and calibrated scores")
        axes.legend(fontsize=7)

    save(args.name, {"model": scorer.config.tag, "records": len(records), "folds": args.folds,
                     "attributes": results}, chart)


if __name__ == "__main__":
    main()
