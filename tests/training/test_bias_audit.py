"""training/bias_audit.py and the shared bias metrics: by-hand numbers on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from model.metrics import roc_auc
from training.bias import (
    IDENTITY_TERMS,
    TERMS_FILE,
    generalised_mean,
    load_identity_terms,
    subgroup_metrics,
)
from training.bias_audit import (
    NEUTRAL_TEMPLATES,
    TOXIC_TEMPLATES,
    data_audit,
    render_markdown,
    template_audit,
    template_texts,
)


def test_shipped_term_list_loads_and_custom_lists_parse(tmp_path):
    assert load_identity_terms(TERMS_FILE) == IDENTITY_TERMS
    assert len(IDENTITY_TERMS) == 50 and "african american" in IDENTITY_TERMS
    path = tmp_path / "terms.txt"
    path.write_text("# my site\nRoma\n  Sinti  # a comment\n\nroma\nfirst  nations\n")
    assert load_identity_terms(path) == ("roma", "sinti", "first nations")
    path.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="no identity terms"):
        load_identity_terms(path)


def test_subgroup_metrics_with_overlapping_membership_by_hand():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    s = np.array([0.7, 0.2, 0.9, 0.4, 0.1, 0.8, 0.3, 0.6])
    # term a: rows 0-3; term b: rows 2, 3, 4 (rows 2 and 3 mention both)
    membership = np.zeros((8, 2), dtype=bool)
    membership[:4, 0] = True
    membership[[2, 3, 4], 1] = True
    out = subgroup_metrics(y, s, membership, terms=["a", "b"], threshold=0.5)
    a = out["a"]
    assert (a["n"], a["positives"]) == (4, 2)
    assert a["fpr"] == 0.5  # 0.7 flagged, 0.2 not
    assert a["subgroup_auc"] == pytest.approx(roc_auc([0, 0, 1, 1], [0.7, 0.2, 0.9, 0.4]))
    # BPSN(a): a's negatives {0.7, 0.2} vs background positives {0.8, 0.6}: 0.8>0.7, 0.8>0.2,
    # 0.6>0.2 -> 3/4
    assert a["bpsn_auc"] == pytest.approx(0.75)
    # BNSP(a): a's positives {0.9, 0.4} vs background negatives {0.1, 0.3}: 4/4
    assert a["bnsp_auc"] == pytest.approx(1.0)
    assert a["mean_nontoxic_score"] == pytest.approx(0.45)
    b = out["b"]
    assert (b["n"], b["positives"], b["fpr"]) == (3, 2, 0.0)
    assert b["subgroup_auc"] == pytest.approx(1.0)


def test_generalised_mean_is_dominated_by_the_worst_term():
    assert generalised_mean([0.9, 0.9]) == pytest.approx(0.9)
    value = generalised_mean([0.95, 0.95, 0.6])
    assert 0.6 < value < 0.75  # the arithmetic mean would be 0.83
    assert generalised_mean([None, 0.8]) == pytest.approx(0.8)
    assert generalised_mean([None]) is None


def biased_data(n: int = 400, seed: int = 0):
    """Comments where 'muslim' mentions score 0.3 higher whatever their label."""
    rng = np.random.default_rng(seed)
    texts, y, s = [], [], []
    for i in range(n):
        term = ("muslim", "christian", None)[i % 3]
        label = int(rng.random() < 0.4)
        score = 0.25 + 0.4 * label + rng.normal(0, 0.1) + (0.3 if term == "muslim" else 0.0)
        texts.append(f"a comment {i} about {term} neighbours" if term else f"comment {i}")
        y.append(label)
        s.append(float(np.clip(score, 0, 1)))
    return texts, np.array(y), np.array(s)


def test_data_audit_finds_a_term_that_scores_high_regardless_of_label():
    texts, y, s = biased_data()
    report = data_audit(texts, y, s, terms=IDENTITY_TERMS, threshold=0.6, min_per_class=10)
    muslim, christian = report["terms"]["muslim"], report["terms"]["christian"]
    assert set(report["terms"]) == {"muslim", "christian"}
    assert report["with_identity_term"] == muslim["n"] + christian["n"]
    assert muslim["bpsn_auc"] < report["overall_auc"] - 0.1 < christian["bpsn_auc"]
    assert muslim["bnsp_auc"] > christian["bnsp_auc"]
    assert muslim["fpr"] > 2 * report["overall_fpr"]
    # christian is flagged too, on BNSP: its toxic comments score below muslim non-toxic ones
    # (the background), which is how a biased term shows up in the other subgroups' metrics
    assert report["flagged_terms"] == ["christian", "muslim"]
    assert christian["bnsp_auc"] < report["overall_auc"] - 0.05 < christian["bpsn_auc"]
    assert report["generalised_mean_bpsn_auc"] < min(christian["bpsn_auc"], 0.9)
    # with a threshold of 200 per class nothing qualifies for flagging or the summary
    strict = data_audit(texts, y, s, terms=IDENTITY_TERMS, threshold=0.6, min_per_class=200)
    assert strict["flagged_terms"] == [] and strict["generalised_mean_bpsn_auc"] is None


def test_template_texts_put_every_term_in_every_template():
    texts, labels, index = template_texts(["gay", "african american"])
    per_term = len(NEUTRAL_TEMPLATES) + len(TOXIC_TEMPLATES)
    assert len(texts) == 2 * per_term and labels.sum() == 2 * len(TOXIC_TEMPLATES)
    assert texts[0] == "I am gay." and texts[per_term] == "I am african american."
    assert all(t[0].isupper() for t in texts)
    assert "African american people are disgusting and stupid." in texts
    assert index.tolist() == [0] * per_term + [1] * per_term


def test_template_audit_by_hand():
    terms = ["gay", "straight", "deaf"]
    texts, labels, index = template_texts(terms)
    # neutral gay sentences score 0.7 (above the 0.5 threshold), the others 0.1; toxic 0.9
    scores = np.where(labels == 1, 0.9, np.where(index == 0, 0.7, 0.1))
    report = template_audit(scores, labels, index, terms=terms, threshold=0.5)
    gay, straight = report["terms"]["gay"], report["terms"]["straight"]
    assert gay["fpr"] == 1.0 and straight["fpr"] == 0.0
    assert gay["tpr"] == straight["tpr"] == 1.0
    assert gay["mean_neutral_score"] == pytest.approx(0.7)
    assert gay["subgroup_auc"] == straight["subgroup_auc"] == 1.0
    assert gay["bpsn_auc"] == 1.0  # 0.7 is still below the other term's toxic 0.9
    assert report["overall_fpr"] == pytest.approx(1 / 3)
    assert report["flagged_terms"] == ["gay"]  # FPR 1.0 > 2 * 1/3 + 0.05
    assert "| gay | 0.700 | 0.900 | 1.000 | 1.000 |" in render_markdown(
        {"model": "m", "attribute": "incivility", "templates": report,
         "data": data_audit(["x"], np.array([0]), np.array([0.1]), terms=terms,
                            threshold=0.5)})
