"""The training corpus: every requested source loaded, capped, paired and deduplicated.

Order of work: load each source through the registry (``path`` from configs/labels.yaml joined to
the data folder), cap it at ``max_records_per_source`` (a seeded sample that keeps the source's
train/validation proportions), add off-topic pairs for sources whose YAML section (or training
config entry) says ``offtopic_pairs: true``, then remove from train every text that is also in
validation (normalised: lowercased, whitespace collapsed), so no validation comment is trained
on. Pair records repeat their comment on purpose (own context and other contexts) and are only
ever removed by that cross-split rule, never for repeating each other within a split.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from pathlib import Path

from training.data.pairs import make_offtopic_pairs
from training.data.registry import get_loader
from training.records import Record

log = logging.getLogger(__name__)

_PAIR_OPTIONS = ("partial_fraction", "top_k", "max_similarity", "max_threads")


def normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def subsample(records: list[Record], limit: int, seed: int) -> list[Record]:
    """At most ``limit`` records, each split keeping its share (seeded, original order kept)."""
    if len(records) <= limit:
        return records
    rng = random.Random(seed)
    by_split: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_split[record.split].append(i)
    keep: list[int] = []
    for split in sorted(by_split):
        indices = by_split[split]
        share = max(1, round(limit * len(indices) / len(records)))
        keep += rng.sample(indices, min(share, len(indices)))
    return [records[i] for i in sorted(keep)]


def deduplicate(records: list[Record]) -> list[Record]:
    """Drop train records whose normalised text also appears in validation."""
    held = {normalise_text(r.text) for r in records if r.split == "validation"}
    kept = [r for r in records if r.split == "validation" or normalise_text(r.text) not in held]
    if len(kept) < len(records):
        dropped = Counter(r.source for r in records
                          if r.split == "train" and normalise_text(r.text) in held)
        log.info("dedup: %d train records repeat a validation text: %s",
                 len(records) - len(kept), dict(dropped))
    return kept


def load_corpus(
    data_dir: Path,
    *,
    sources: dict[str, dict],
    label_map: dict,
    pairs: dict,
    seed: int,
    max_records_per_source: int | None,
) -> list[Record]:
    """Records of every source in ``sources`` (see the module docstring for what happens)."""
    records: list[Record] = []
    for name, options in sources.items():
        spec = label_map.get(name) or {}
        if "path" not in spec:
            raise KeyError(f"data source {name!r} has no 'path' in the label map")
        path = Path(data_dir) / spec["path"]
        if not path.exists():
            raise FileNotFoundError(f"data source {name!r}: {path} does not exist")
        loaded = list(get_loader(name)(path, spec))
        if max_records_per_source is not None:
            loaded = subsample(loaded, max_records_per_source, seed)
        if (options or {}).get("offtopic_pairs", spec.get("offtopic_pairs", False)):
            extra = {k: pairs[k] for k in _PAIR_OPTIONS if k in pairs}
            made = make_offtopic_pairs(
                loaded, negative_ratio=float(pairs.get("negative_ratio", 1.0)),
                hard_fraction=float(pairs.get("hard_fraction", 0.5)), seed=seed,
                source=f"{name}:pairs", **extra)
            # a record whose only label is off_topic comes back as its pair "own" copy
            loaded = [r for r in loaded if set(r.labels) - {"off_topic"}] + made
        log.info("%s: %d records (%s)", name, len(loaded),
                 dict(Counter(r.split for r in loaded)))
        records += loaded
    return deduplicate(records)


def read_label_map(config) -> dict:
    """The label map (source -> path and label columns) a training config points at."""
    import yaml

    return yaml.safe_load(Path(config.data.label_map).read_text(encoding="utf-8"))


def load_configured(config, sources: dict[str, dict] | None = None, *,
                    label_map: dict | None = None) -> list[Record]:
    """``load_corpus`` as a training config says: its data folder, label map (read unless
    given), pair options, seed and per-source cap; ``sources`` (default: the config's) narrows
    it."""
    return load_corpus(Path(config.data.data_dir),
                       sources=config.data.sources if sources is None else sources,
                       label_map=read_label_map(config) if label_map is None else label_map,
                       pairs=config.data.pairs, seed=config.training.seed,
                       max_records_per_source=config.data.max_records_per_source)


def summarise(records: list[Record]) -> dict:
    """Counts per source and split, positives (label >= 0.5) and labelled counts per attribute,
    and how many records carry an article or a parent; JSON-ready."""
    sources: dict[str, dict] = {}
    attributes: dict[str, dict] = {}
    for r in records:
        entry = sources.setdefault(r.source, {"train": 0, "validation": 0, "with_article": 0,
                                              "with_parent": 0, "positives": {}})
        entry[r.split] += 1
        entry["with_article"] += bool(r.article_title or r.article_text)
        entry["with_parent"] += bool(r.parent)
        for name, value in r.labels.items():
            counts = attributes.setdefault(name, {
                "train": {"labelled": 0, "positives": 0},
                "validation": {"labelled": 0, "positives": 0}})
            counts[r.split]["labelled"] += 1
            if value >= 0.5:
                counts[r.split]["positives"] += 1
                per_split = entry["positives"].setdefault(name, {"train": 0, "validation": 0})
                per_split[r.split] += 1
    return {
        "records": len(records),
        "train": sum(r.split == "train" for r in records),
        "validation": sum(r.split == "validation" for r in records),
        "sources": dict(sorted(sources.items())),
        "attributes": dict(sorted(attributes.items())),
    }
