"""After training: validation predictions, calibration, thresholds and per-source metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from model.calibration import apply_calibration
from model.evaluation import calibrated_matrix, label_matrix, span_chars_at, span_metrics
from model.metrics import per_label_metrics, roc_auc, span_f1
from model.scorer import Article, Comment, Scorer
from training.calibration import best_threshold_for, choose_calibration, choose_threshold
from training.noise import make_perturber
from training.records import Record

log = logging.getLogger(__name__)

SPAN_CANDIDATES = tuple(np.round(np.arange(0.1, 0.91, 0.05), 2))


def as_comment(record: Record, text: str | None = None) -> Comment:
    article = None
    if record.article_title or record.article_text:
        article = Article(title=record.article_title or "", text=record.article_text or "")
    return Comment(text=record.text if text is None else text, article=article,
                   parent=record.parent)


def predict(scorer: Scorer, records: list[Record], *, batch_size: int, spans: bool) -> list[dict]:
    log.info("scoring %d validation records", len(records))
    return scorer.raw_scores([as_comment(r) for r in records], batch_size=batch_size, spans=spans)


def fit_calibration_and_thresholds(
    scorer: Scorer, records: list[Record], rows: list[dict], *, target_precision: float,
    kept: Sequence[str] = (),
) -> None:
    """Fit a calibrator and pick a flag threshold per attribute on pooled validation data;
    the attributes in ``kept`` keep the scorer's own."""
    names = scorer.config.attributes
    labels = label_matrix([r.labels for r in records], names)
    calibration = {name: scorer.calibration[name] for name in kept}
    thresholds = {name: scorer.thresholds["attributes"][name] for name in kept}
    for j, name in enumerate(names):
        if name in kept:
            continue
        logits = np.array([row["logits"].get(name, np.nan) for row in rows], dtype=float)
        keep = ~np.isnan(labels[:, j]) & ~np.isnan(logits)
        if keep.sum() == 0:
            calibration[name] = {"method": "identity", "selection": "no validation labels"}
            thresholds[name] = {"threshold": 0.5, "rule": "no validation labels: 0.5 of sigmoid"}
            continue
        calibration[name] = choose_calibration(logits[keep], labels[keep, j])
        probs = apply_calibration(logits[keep], calibration[name])
        thresholds[name] = choose_threshold(labels[keep, j], probs,
                                            target_precision=target_precision)
    scorer.calibration = {name: calibration[name] for name in names}
    scorer.thresholds = {"attributes": {name: thresholds[name] for name in names},
                         "spans": scorer.thresholds.get("spans", {})}


def fit_span_threshold(scorer: Scorer, records: list[Record], rows: list[dict]) -> dict:
    """Choose the span-head threshold by SemEval-2021 span F1 on validation posts with spans."""
    pairs = [(row, set(r.span_chars)) for r, row in zip(records, rows, strict=True)
             if r.span_chars is not None and "span_probs" in row]
    if not pairs:
        return {"threshold": 0.5, "rule": "no validation span annotations: 0.5"}

    def f1_at(threshold: float) -> float:
        predicted = [span_chars_at(row, threshold=threshold) for row, _ in pairs]
        return span_f1(predicted, [gold for _, gold in pairs])

    threshold, f1 = best_threshold_for(f1_at, SPAN_CANDIDATES)
    spans = {"threshold": float(threshold), "rule": "best validation span F1 (SemEval-2021)",
             "f1": f1, "n": len(pairs)}
    scorer.thresholds["spans"] = spans
    return spans


def metrics_by_source(scorer: Scorer, records: list[Record], rows: list[dict]) -> dict:
    """Per-source and pooled per-attribute metrics at the artifact's thresholds."""
    names = scorer.config.attributes
    probs = calibrated_matrix(scorer, rows)
    labels = label_matrix([r.labels for r in records], names)
    thresholds = {name: scorer.threshold(name) for name in names}
    out = {"all": per_label_metrics(labels, probs, labels=names, thresholds=thresholds)}
    sources = sorted({r.source for r in records})
    for source in sources:
        idx = [i for i, r in enumerate(records) if r.source == source]
        out[source] = per_label_metrics(labels[idx], probs[idx], labels=names,
                                        thresholds=thresholds)
        span_rows = [(rows[i], records[i].span_chars) for i in idx
                     if records[i].span_chars is not None and "span_probs" in rows[i]]
        if span_rows:
            out[source]["_spans"] = span_metrics(scorer, span_rows)
    return out


def measured(scorer: Scorer, records: list[Record], rows: list[dict], *, spans: dict,
             batch_size: int) -> dict:
    """What metrics.json reports of a scorer on its validation records (``rows``: their raw
    scores, spans included): per-source metrics at its thresholds, the thresholds and
    calibrators, the span threshold's record ``spans`` and robustness to filter-dodging noise."""
    return {
        "model": scorer.config.tag,
        "validation": metrics_by_source(scorer, records, rows),
        "thresholds": scorer.thresholds,
        "calibration": {a: {"method": c["method"], "selection": c.get("selection")}
                        for a, c in scorer.calibration.items()},
        "spans": spans,
        "robustness": robustness(scorer, records, rows,
                                 make_perturber(np.random.default_rng(0)),
                                 batch_size=batch_size),
    }


def robustness(
    scorer: Scorer,
    records: list[Record],
    rows: list[dict],
    perturb: Callable[[str], str],
    *,
    batch_size: int,
    per_source: int = 400,
) -> dict:
    """ROC-AUC per attribute on clean validation comments and on perturbed copies of them
    (``rows``: the records' raw scores, already computed; only the copies are scored)."""
    picked: list[int] = []
    counts: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.labels and counts.get(r.source, 0) < per_source and not r.is_pair:
            counts[r.source] = counts.get(r.source, 0) + 1
            picked.append(i)
    chosen = [records[i] for i in picked]
    clean = [rows[i] for i in picked]
    noisy = scorer.raw_scores([as_comment(r, perturb(r.text)) for r in chosen],
                              batch_size=batch_size)
    names = scorer.config.attributes
    labels = label_matrix([r.labels for r in chosen], names)
    out = {}
    for j, name in enumerate(names):
        y = labels[:, j]
        keep = ~np.isnan(y)
        if keep.sum() < 20 or len(set((y[keep] >= 0.5).tolist())) < 2:
            continue
        auc = {}
        for label, rows in (("clean", clean), ("perturbed", noisy)):
            scores = np.array([row["logits"].get(name, np.nan) for row in rows])[keep]
            auc[label] = roc_auc((y[keep] >= 0.5).astype(int), scores)
        out[name] = {"n": int(keep.sum()), "roc_auc_clean": auc["clean"],
                     "roc_auc_perturbed": auc["perturbed"]}
    return out


def calibration_curves(
    scorer: Scorer, records: list[Record], rows: list[dict]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(binarised labels, calibrated probabilities) per attribute, for reliability plots."""
    names = scorer.config.attributes
    probs = calibrated_matrix(scorer, rows)
    labels = label_matrix([r.labels for r in records], names)
    curves = {}
    for j, name in enumerate(names):
        keep = ~np.isnan(labels[:, j]) & ~np.isnan(probs[:, j])
        if keep.sum():
            curves[name] = ((labels[keep, j] >= 0.5).astype(int), probs[keep, j])
    return curves
