"""``civility train``: config -> corpus -> fine-tuning -> calibration -> a complete artifact."""

from __future__ import annotations

import copy
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

from model import artifact
from model import attributes as taxonomy
from model.scorer import Scorer
from training import card, validation
from training.base import new_scorer
from training.bias import bias_report
from training.config import Config, ConfigError
from training.data.corpus import load_configured, read_label_map, summarise
from training.noise import make_perturber
from training.records import Record
from training.trainer import train

log = logging.getLogger(__name__)
LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scikit-learn")
OFF_TOPIC = "off_topic"  # a continued run (training.base_artifact) keeps the base's


def labelled_attributes(config: Config, records: list[Record]) -> list[str]:
    """The configured attributes, or every taxonomy attribute the data labels (core always)."""
    if config.model.attributes:
        return list(config.model.attributes)
    seen = {name for r in records for name in r.labels}
    return [a for a in taxonomy.NAMES if a in seen or a in taxonomy.CORE]


def build_info(config: Config, summary: dict | None, command: list[str]) -> dict:
    """Versions, commit, command and config of a run, and its data ``summary`` (none: a step
    on a finished artifact, whose build info records the data)."""
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
            "command": " ".join(command), "config": config.to_dict(),
            **({} if summary is None else {"data": summary})}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(config: Config, *, command: list[str] | None = None) -> Path:
    """Train and write a complete artifact to ``config.training.output_dir``; return its path.

    With ``training.base_artifact`` the run continues that artifact's toxicity side (see
    ``continued_scorer``) on the records with a comment label; everything off_topic is the
    base's."""
    check_output(Path(config.training.output_dir))
    seed_everything(config.training.seed)
    label_map = read_label_map(config)
    records = load_configured(config, label_map=label_map)
    base = Path(config.training.base_artifact) if config.training.base_artifact else None
    valid = validation_sample(records, config)  # before any filtering: the base's own sample
    if base is None:
        attributes = labelled_attributes(config, records)
        scorer = new_scorer(config, attributes)
        base_metrics = None
    else:
        scorer, base_metrics = continued_scorer(base, config)
        records, valid = comment_labelled(records), comment_labelled(valid)
        attributes = scorer.config.attributes
        before = validation.metrics_by_source(scorer, valid, validation.predict(
            scorer, valid, batch_size=config.training.eval_batch_size, spans=False))
    summary = summarise(records)
    log.info("corpus: %d records, attributes %s", len(records), attributes)
    perturb_factory = None
    if config.data.noise_probability > 0:
        p = config.data.noise_probability

        def perturb_factory(rng):
            noisy = make_perturber(rng)
            return lambda text: noisy(text) if rng.random() < p else text

    stats = train(scorer.network, scorer.tokenizer, records, config,
                  perturb_factory=perturb_factory)
    out = Path(config.training.output_dir)
    rows = validation.predict(scorer, valid, batch_size=config.training.eval_batch_size,
                              spans=True)
    kept = [OFF_TOPIC] if base is not None and OFF_TOPIC in attributes else []  # the base's
    validation.fit_calibration_and_thresholds(scorer, valid, rows, kept=kept,
                                              target_precision=config.training.target_precision)
    spans = validation.fit_span_threshold(scorer, valid, rows)
    metrics = {
        **validation.measured(scorer, valid, rows, spans=spans,
                              batch_size=config.training.eval_batch_size),
        "training": {**stats, "command": " ".join(command or sys.argv)},
        "data": summary,
    }
    metrics["bias"] = bias_report(scorer, Path(config.data.data_dir))
    if config.model.known_gaps:
        metrics["known_gaps"] = list(config.model.known_gaps)
    build = build_info(config, summary, command or sys.argv)
    curves = validation.calibration_curves(scorer, valid, rows)
    if base is not None:
        metrics = with_base_off_topic(metrics, base_metrics, before)
        build["base_artifact"] = {"model": base_metrics["model"], "path": str(base)}
        curves.pop(OFF_TOPIC, None)
    return write_artifact(scorer, out, metrics=metrics, build=build, config=config.to_dict(),
                          curves=curves, label_map=label_map, base=base)


def check_output(out: Path) -> None:
    """Refuse an output folder the run would wipe that is not an artifact: the artifact replaces
    ``out`` as a whole (``write_artifact``), so it must be absent, empty, an artifact or a run's
    checkpoint."""
    if out.is_file():
        raise ConfigError(f"training.output_dir is a file: {out}")
    if out.is_dir() and any(out.iterdir()) and not (
            (out / artifact.CONFIG).exists() or (out / "checkpoint").exists()):
        raise ConfigError(f"training.output_dir {out} holds files that are not a model "
                          "artifact, and the run replaces the folder: choose another")


def write_artifact(scorer: Scorer, out: Path, *, metrics: dict, build: dict, config: dict,
                   curves: dict[str, tuple[np.ndarray, np.ndarray]], label_map: dict,
                   base: Path | None = None) -> Path:
    """Write the complete artifact (weights, calibration, metrics, build info, reliability
    plots and the model card) to a folder next to ``out``, then put it in place of ``out``:
    ``out`` may be the base artifact or hold the run's checkpoint, and an interrupted run must
    not leave half an artifact there. An attribute without a curve keeps ``base``'s plot."""
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    plots = card.write_calibration_plots(curves, staging)
    for name in scorer.config.attributes:
        filename = f"calibration_{name}.png"
        if name not in plots and base is not None and (base / filename).exists():
            shutil.copy2(base / filename, staging / filename)
            plots[name] = filename
    scorer.save_pretrained(staging, metrics=metrics, build=build, model_card=card.render_model_card(
        metrics, config=config, build=build, label_map=label_map, plots=plots))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    log.info("artifact written to %s", out)
    return out


# ---- continuing a finished artifact ----------------------------------------------------------
def continued_scorer(base: Path, config: Config) -> tuple[Scorer, dict]:
    """The base artifact's scorer, ready to train its toxicity side further, and its metrics.

    Only the toxicity top layers, the attribute heads and the span head train: the embeddings
    and the shared trunk stay frozen as in every run, and so does the off-topic branch (its top
    layers and context head), so off_topic scores exactly as the base did. The result's name
    and version are the config's; everything else in ``model`` is the base's."""
    if base.resolve() == Path(config.training.output_dir).resolve():
        raise ConfigError("training.output_dir must not be training.base_artifact: the run "
                          "checkpoints into its output")
    scorer = Scorer.from_pretrained(base)
    scorer.network.freeze_shared()
    try:
        scorer.network.freeze_branch()
    except ValueError as error:  # no branch of its own (topic_layers: 0)
        raise ConfigError(f"{base}: {error}") from None
    scorer.config.name, scorer.config.version = config.model.name, config.model.version
    metrics = artifact.read_optional_json(base / artifact.METRICS)
    metrics.setdefault("model", artifact.read_config(base).tag)
    return scorer, metrics


def comment_labelled(records: list[Record]) -> list[Record]:
    """The records with a label of a comment attribute (not only off_topic)."""
    return [r for r in records if any(name != OFF_TOPIC for name in r.labels)]


def with_base_off_topic(metrics: dict, base_metrics: dict, before: dict) -> dict:
    """``metrics`` of a continued run with the base's off_topic figures (validation rows,
    robustness, the off-topic tuning record), and the validation ROC-AUC of every other
    attribute before (``before``: the base's metrics on the same records) and after
    (``training.roc_auc_before``/``roc_auc_after``)."""
    out = copy.deepcopy(metrics)
    for source, entry in (base_metrics.get("validation") or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get(OFF_TOPIC), dict):
            out["validation"].setdefault(source, {})[OFF_TOPIC] = entry[OFF_TOPIC]
    for entry in out["validation"].values():
        if entry.get(OFF_TOPIC) is None:
            entry.pop(OFF_TOPIC, None)
    robust = (base_metrics.get("robustness") or {}).get(OFF_TOPIC)
    if robust:
        out["robustness"][OFF_TOPIC] = robust
    if "context_head" in base_metrics:
        out["context_head"] = base_metrics["context_head"]

    def aucs(validation: dict) -> dict:
        return {source: {name: m["roc_auc"] for name, m in entry.items()
                         if name != OFF_TOPIC and isinstance(m, dict)
                         and m.get("roc_auc") is not None}
                for source, entry in validation.items() if isinstance(entry, dict)}

    out["training"]["base_model"] = base_metrics["model"]
    out["training"]["roc_auc_before"] = aucs(before)
    out["training"]["roc_auc_after"] = aucs(metrics["validation"])
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
