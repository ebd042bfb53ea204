"""Every data source by name, each a module under ``training.data`` with
``load(data_dir: Path, spec: dict) -> Iterator[Record]``.

``data_dir`` is the folder holding the source's files (``--data-dir`` joined with the source's
``path`` from ``configs/labels.yaml``); ``spec`` is that source's section of the YAML.
Modules are imported lazily so that a user without, say, the SemEval files pays nothing for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from training.records import Record

Loader = Callable[[Path, dict], Iterator[Record]]

SOURCES: dict[str, str] = {
    # labelled toxicity / incivility / attack sources in ../shared/datasets
    "kaggle_insults": "training.data.kaggle_insults",
    "ucc": "training.data.ucc",
    "olid": "training.data.olid",
    "toxic_spans": "training.data.toxic_spans",
    "toxic_spans_raw": "training.data.toxic_spans_raw",
    "cat_context": "training.data.cat_context",
    "ruddit": "training.data.ruddit",
    "jigsaw_per_annotator": "training.data.jigsaw_per_annotator",
    "debiasing": "training.data.debiasing",
    # context / thread sources
    "cmv": "training.data.cmv",
    "semeval2016_cqa": "training.data.semeval_cqa",
    "semeval2015_cqa": "training.data.semeval2015_cqa",
    "wiki_threads": "training.data.wiki_threads",
    # published formats of the big public sets (not in ../shared; users who have them)
    "jigsaw_toxic_2018": "training.data.public_formats",
    "wikipedia_talk_labels": "training.data.public_formats",
    "civil_comments": "training.data.public_formats",
    # the service's export of moderator decisions
    "moderator_decisions": "training.data.moderator_decisions",
}


def get_loader(name: str) -> Loader:
    """Return the ``load`` function of source ``name``."""
    try:
        module_name = SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown data source {name!r}; known: {', '.join(SOURCES)}") from None
    module = importlib.import_module(module_name)
    specific = getattr(module, f"load_{name}", None)
    return specific or module.load
