"""Write training-corpus records as the labelled JSONL that ``civility evaluate``, ``compare`` and
``audit-bias`` read: a researcher's way to get validation files out of the datasets folder.

    python -m training.export --data-dir ../shared/datasets --sources ucc,olid \\
        --split validation --max-per-source 1000 --output val.jsonl

Sources and label mappings come from ``configs/labels.yaml`` (the names of
``training/data/registry.py``). Off-topic pair records are left out unless ``--pairs``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterable
from pathlib import Path

import yaml

from training.data.corpus import load_corpus
from training.records import Record


def record_to_json(record: Record, *, key: str) -> dict:
    """One labelled input line: id, text, article/parent context, labels, span offsets."""
    row: dict = {"id": key, "text": record.text, "source": record.source,
                 "labels": dict(record.labels)}
    if record.article_title or record.article_text:
        row["article"] = {"title": record.article_title or "", "text": record.article_text or ""}
    if record.parent:
        row["parent"] = record.parent
    if record.span_chars is not None:
        row["span_chars"] = list(record.span_chars)
    return row


def write_jsonl(records: Iterable[Record], path: Path) -> int:
    """Write ``records`` to ``path`` (ids ``<source>-<n>``); return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for count, record in enumerate(records, start=1):
            row = record_to_json(record, key=f"{record.source}-{count}")
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return count


def select(records: list[Record], *, split: str, max_per_source: int | None, seed: int,
           pairs: bool = False) -> list[Record]:
    """Records of ``split`` (no off-topic pairs unless ``pairs``), at most ``max_per_source`` of
    each source, drawn with ``seed`` and kept in corpus order."""
    chosen = [r for r in records if r.split == split and r.labels
              and (pairs or not r.is_pair)]
    if not max_per_source:
        return chosen
    rng = random.Random(seed)
    by_source: dict[str, list[int]] = {}
    for i, record in enumerate(chosen):
        by_source.setdefault(record.source, []).append(i)
    keep = sorted(i for source in sorted(by_source)
                  for i in (rng.sample(by_source[source], max_per_source)
                            if len(by_source[source]) > max_per_source else by_source[source]))
    return [chosen[i] for i in keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--sources", required=True, help="comma-separated source names")
    parser.add_argument("--label-map", default="configs/labels.yaml")
    parser.add_argument("--split", default="validation", choices=("train", "validation"))
    parser.add_argument("--max-per-source", type=int)
    parser.add_argument("--pairs", action="store_true", help="keep off-topic pair records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    label_map = yaml.safe_load(Path(args.label_map).read_text(encoding="utf-8"))
    sources = {name.strip(): {"weight": 1.0} for name in args.sources.split(",") if name.strip()}
    records = load_corpus(Path(args.data_dir), sources=sources, label_map=label_map,
                          pairs={"negative_ratio": 1.0, "hard_fraction": 0.5}, seed=args.seed,
                          max_records_per_source=None)
    chosen = select(records, split=args.split, max_per_source=args.max_per_source,
                    seed=args.seed, pairs=args.pairs)
    count = write_jsonl(chosen, Path(args.output))
    print(f"{count} {args.split} records written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
