"""Quality of the runtime form against the PyTorch reference on the validation data: ROC-AUC
of every attribute (pooled over sources, as in the model card) for both, and the gap.

    .venv/bin/python benchmarks/runtime_quality.py [--data-dir ../shared/datasets]
        [--max-per-source 1000] [--batch-size 16]

The validation records are the training pipeline's (configs/release.yaml's sources and seed;
official test splits are not in the data folder). The target: every attribute within 0.005.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ROOT, SHARED, save, table

from model.artifact import RELEASE_DIR
from model.loading import load_scorer

TOLERANCE = 0.005


def validation_records(data_dir: Path, max_per_source: int, sources: list[str] | None) -> list:
    import yaml

    from training.config import load_config
    from training.data.corpus import load_corpus
    from training.pipeline import validation_sample

    config = load_config(str(ROOT / "configs" / "release.yaml"),
                         [f"data.data_dir={data_dir}",
                          f"data.max_validation_per_source={max_per_source}",
                          f"data.label_map={ROOT / 'configs' / 'labels.yaml'}"])
    label_map = yaml.safe_load(Path(config.data.label_map).read_text(encoding="utf-8"))
    chosen = {k: v for k, v in config.data.sources.items() if not sources or k in sources}
    records = load_corpus(data_dir, sources=chosen, label_map=label_map,
                          pairs=config.data.pairs, seed=config.training.seed,
                          max_records_per_source=config.data.max_records_per_source)
    return validation_sample(records, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--model", default=str(RELEASE_DIR))
    parser.add_argument("--max-per-source", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sources", nargs="+", help="only these sources (configs/release.yaml)")
    parser.add_argument("--name", default="runtime_quality", help="results file name")
    args = parser.parse_args()
    from training import validation

    records = validation_records(args.data_dir, args.max_per_source, args.sources)
    print(f"{len(records)} validation records from {len({r.source for r in records})} sources")
    forms = {"runtime": load_scorer(args.model, backend="onnx"),
             "pytorch": load_scorer(args.model, backend="torch")}
    metrics, seconds = {}, {}
    for name, scorer in forms.items():
        started = time.perf_counter()
        rows = validation.predict(scorer, records, batch_size=args.batch_size, spans=False)
        seconds[name] = time.perf_counter() - started
        metrics[name] = validation.metrics_by_source(scorer, records, rows)["all"]
    rows, gaps = [], {}
    for attribute, reference in metrics["pytorch"].items():
        if not isinstance(reference, dict) or reference.get("roc_auc") is None:
            continue
        runtime_auc = metrics["runtime"][attribute]["roc_auc"]
        gaps[attribute] = runtime_auc - reference["roc_auc"]
        rows.append([attribute, reference["n"], reference["positives"], reference["roc_auc"],
                     runtime_auc, f"{gaps[attribute]:+.4f}",
                     "ok" if abs(gaps[attribute]) <= TOLERANCE else "OVER"])
    print(table(["attribute", "n", "positives", "ROC-AUC pytorch", "ROC-AUC runtime", "gap",
                 f"within {TOLERANCE}"], rows))
    print(f"scoring time: pytorch {seconds['pytorch']:.0f} s, runtime {seconds['runtime']:.0f} s "
          f"({seconds['pytorch'] / seconds['runtime']:.1f}x)")
    worst = max(gaps, key=lambda a: abs(gaps[a]))
    print(f"largest gap: {worst} {gaps[worst]:+.4f}; all within {TOLERANCE}: "
          f"{all(abs(g) <= TOLERANCE for g in gaps.values())}")

    def chart(axes) -> None:
        names = list(gaps)
        axes.barh(names, [gaps[n] for n in names], color="tab:blue")
        for bound in (-TOLERANCE, TOLERANCE):
            axes.axvline(bound, color="tab:red", linestyle="--")
        axes.set_xlabel("ROC-AUC runtime (int8 ONNX) - PyTorch fp32, validation")
        axes.set_title("Runtime form quality guard (red: +-0.005)")

    save(args.name, {"sources": args.sources or "all", "records": len(records),
                     "tolerance": TOLERANCE, "metrics": metrics, "gaps": gaps,
                     "seconds": seconds}, chart)


if __name__ == "__main__":
    main()
