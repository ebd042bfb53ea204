"""``civility train``: config -> corpus -> fine-tuning -> calibration -> a complete artifact."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import platform
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from model import attributes as taxonomy
from training import card, validation
from training.base import new_scorer
from training.bias import bias_report
from training.config import Config
from training.data.corpus import load_configured, read_label_map, summarise
from training.noise import make_perturber
from training.records import Record
from training.trainer import train

log = logging.getLogger(__name__)
LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scikit-learn")


def labelled_attributes(config: Config, records: list[Record]) -> list[str]:
    """The configured attributes, or every taxonomy attribute the data labels (core always)."""
    if config.model.attributes:
        return list(config.model.attributes)
    seen = {name for r in records for name in r.labels}
    return [a for a in taxonomy.NAMES if a in seen or a in taxonomy.CORE]


def build_info(config: Config, summary: dict, command: list[str]) -> dict:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "git_commit": commit, "python": platform.python_version(), "versions": versions,
            "command": " ".join(command), "config": config.to_dict(), "data": summary}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(config: Config, *, command: list[str] | None = None) -> Path:
    """Train and write a complete artifact to ``config.training.output_dir``; return its path."""
    seed_everything(config.training.seed)
    label_map = read_label_map(config)
    records = load_configured(config, label_map=label_map)
    summary = summarise(records)
    attributes = labelled_attributes(config, records)
    log.info("corpus: %d records, attributes %s", len(records), attributes)
    scorer = new_scorer(config, attributes)
    perturb_factory = None
    if config.data.noise_probability > 0:
        p = config.data.noise_probability

        def perturb_factory(rng):
            noisy = make_perturber(rng)
            return lambda text: noisy(text) if rng.random() < p else text

    stats = train(scorer.network, scorer.tokenizer, records, config,
                  perturb_factory=perturb_factory)
    out = Path(config.training.output_dir)
    valid = validation_sample(records, config)
    rows = validation.predict(scorer, valid, batch_size=config.training.eval_batch_size,
                              spans=True)
    validation.fit_calibration_and_thresholds(scorer, valid, rows,
                                              target_precision=config.training.target_precision)
    spans = validation.fit_span_threshold(scorer, valid, rows)
    metrics = {
        "model": scorer.config.tag,
        "validation": validation.metrics_by_source(scorer, valid, rows),
        "thresholds": scorer.thresholds,
        "calibration": {a: {"method": c["method"], "selection": c.get("selection")}
                        for a, c in scorer.calibration.items()},
        "spans": spans,
        "robustness": validation.robustness(scorer, valid, rows,
                                            make_perturber(np.random.default_rng(0)),
                                            batch_size=config.training.eval_batch_size),
        "training": {**stats, "command": " ".join(command or sys.argv)},
        "data": summary,
    }
    metrics["bias"] = bias_report(scorer, Path(config.data.data_dir))
    build = build_info(config, summary, command or sys.argv)
    plots = card.write_calibration_plots(validation.calibration_curves(scorer, valid, rows), out)
    scorer.save_pretrained(out, metrics=metrics, build=build, model_card=card.render_model_card(
        metrics, config=config.to_dict(), build=build, label_map=label_map, plots=plots))
    shutil.rmtree(out / "checkpoint", ignore_errors=True)  # the artifact is complete
    log.info("artifact written to %s", out)
    return out


def validation_sample(records: list[Record], config: Config) -> list[Record]:
    """Validation records, at most ``max_validation_per_source`` per source (seeded)."""
    valid = [r for r in records if r.split == "validation"]
    cap = config.data.max_validation_per_source
    if not cap:
        return valid
    rng = np.random.default_rng(config.training.seed)
    by_source: dict[str, list[Record]] = {}
    for r in valid:
        by_source.setdefault(r.source, []).append(r)
    out = []
    for source in sorted(by_source):
        group = by_source[source]
        if len(group) > cap:
            group = [group[i] for i in sorted(rng.choice(len(group), cap, replace=False))]
        out += group
    return out
