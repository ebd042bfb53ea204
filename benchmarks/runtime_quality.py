"""Quality of the runtime form against the PyTorch reference on the validation data: ROC-AUC
of every attribute (pooled over sources, as in the model card) for both, and the gap.

    .venv/bin/python benchmarks/runtime_quality.py [--data-dir ../shared/datasets]
        [--max-per-source 1000] [--batch-size 16] [--sources ucc]
        [--precision fp32 int8] [--name runtime_quality]

The validation records are the training pipeline's (configs/release.yaml's sources and seed;
official test splits are not in the data folder). The target: every attribute within 0.005.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ROOT, SHARED, save, table

from model.artifact import RELEASE_DIR
from model.loading import DEFAULT_PRECISION, PRECISIONS, load_scorer

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
    metrics, seconds = {}, {}
    for name, scorer in forms.items():
        started = time.perf_counter()
        rows = validation.predict(scorer, records, batch_size=args.batch_size, spans=False)
        seconds[name] = time.perf_counter() - started
        metrics[name] = validation.metrics_by_source(scorer, records, rows)["all"]
    attributes = [a for a, m in metrics["pytorch"].items()
                  if isinstance(m, dict) and m.get("roc_auc") is not None]
    gaps = {p: {a: metrics[p][a]["roc_auc"] - metrics["pytorch"][a]["roc_auc"]
                for a in attributes} for p in args.precision}
    rows = []
    for attribute in attributes:
        reference = metrics["pytorch"][attribute]
        row = [attribute, reference["n"], reference["positives"], reference["roc_auc"]]
        for precision in args.precision:
            gap = gaps[precision][attribute]
            row += [metrics[precision][attribute]["roc_auc"],
                    f"{gap:+.4f}" + ("" if abs(gap) <= TOLERANCE else " OVER")]
        rows.append(row)
    header = ["attribute", "n", "positives", "ROC-AUC pytorch"]
    for precision in args.precision:
        header += [f"ROC-AUC {precision}", f"gap {precision}"]
    print(table(header, rows))
    for precision in args.precision:
        worst = max(gaps[precision], key=lambda a: abs(gaps[precision][a]))
        print(f"{precision}: scoring {seconds[precision]:.0f} s (PyTorch {seconds['pytorch']:.0f}"
              f" s, {seconds['pytorch'] / seconds[precision]:.1f}x); largest gap {worst} "
              f"{gaps[precision][worst]:+.4f}; all within {TOLERANCE}: "
              f"{all(abs(g) <= TOLERANCE for g in gaps[precision].values())}")

    def chart(axes) -> None:
        height = 0.8 / len(args.precision)
        for i, precision in enumerate(args.precision):
            axes.barh([y + i * height for y in range(len(attributes))],
                      [gaps[precision][a] for a in attributes], height=height, label=precision)
        axes.set_yticks([y + 0.4 - height / 2 for y in range(len(attributes))], attributes)
        for bound in (-TOLERANCE, TOLERANCE):
            axes.axvline(bound, color="tab:red", linestyle="--")
        axes.set_xlabel("ROC-AUC runtime form - PyTorch fp32, validation")
        axes.set_title("Runtime form quality guard (red: +-0.005)")
        axes.legend()

    save(args.name, {"sources": args.sources or "all", "records": len(records),
                     "tolerance": TOLERANCE, "metrics": metrics, "gaps": gaps,
                     "seconds": seconds}, chart)


if __name__ == "__main__":
    main()
