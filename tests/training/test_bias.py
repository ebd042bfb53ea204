"""Tests for training/bias.py with a fake scorer whose scores are fixed per text."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from training.bias import bias_report, debiasing_report, find_terms, madlibs_report


@dataclass
class FakeResult:
    scores: dict


class FakeScorer:
    """Returns a preset incivility score per text; records the batch sizes it was asked for."""

    def __init__(self, scores: dict[str, float], threshold: float = 0.5) -> None:
        self.scores, self._threshold, self.calls = scores, threshold, []

    def score(self, texts, *, batch_size: int = 8):
        self.calls.append((len(texts), batch_size))
        return [FakeResult({"incivility": self.scores.get(t, 0.0), "off_topic": None})
                for t in texts]

    def threshold(self, name: str) -> float:
        assert name == "incivility"
        return self._threshold


# (text, label, score): gay has one false positive (0.6) among 2 negatives; white has none.
MADLIBS = [
    ("Alice is a wonderful gay", "NOT_BAD", 0.6),
    ("Bob is a lovely gay", "NOT_BAD", 0.2),
    ("Carl is a disgusting gay", "BAD", 0.9),
    ("Dana is a filthy gay", "BAD", 0.4),
    ("Eve is a wonderful white", "NOT_BAD", 0.1),
    ("Fay is a lovely white", "NOT_BAD", 0.3),
    ("Gus is a disgusting white", "BAD", 0.8),
    ("Hal is a filthy white", "BAD", 0.7),
    ("You are a fun dancer", "NOT_BAD", 0.05),
    ("You are a stupid dancer", "BAD", 0.95),
    ("respect african american", "NOT_BAD", 0.2),
    ("kill african american", "BAD", 0.99),
]


def write_madlibs(path: Path, rows=MADLIBS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(["Text", "Label", "Template"])
        for text, label, _ in rows:
            writer.writerow([text, label, "name_adj"])
    return path


DEBIASING = [
    ("The gay couple married in 1948.", 0.7),
    ("She founded an LGBT pride parade; a gay film festival followed.", 0.2),
    ("A white paper by African-American historians.", 0.6),
    ("The church building dates from 1850.", 0.1),
]


def write_debiasing(path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["rev_id", "comment", "is_toxic", "split"])
        for i, (text, _) in enumerate(DEBIASING):
            writer.writerow([f"wikipedia{i}_Page_0", text, "False", "train"])
    return path


def scorer_for(rows, threshold: float = 0.5) -> FakeScorer:
    return FakeScorer({row[0]: row[-1] for row in rows}, threshold)


def test_find_terms_whole_words_longest_first() -> None:
    assert find_terms("kill african american") == ["african american"]
    assert find_terms("A middle-aged LGBTQ Catholic") == ["middle aged", "lgbtq", "catholic"]
    assert find_terms("the oldest goldfish; a straightforward tray") == []
    assert find_terms("Being old is good.") == ["old"]


def test_madlibs_fpr_and_aucs_by_hand(tmp_path: Path) -> None:
    scorer = scorer_for(MADLIBS)
    report = madlibs_report(scorer, write_madlibs(tmp_path / "m.csv"), batch_size=16)
    assert scorer.calls == [(12, 16)]
    assert report["n"] == 12 and report["threshold"] == 0.5
    gay, white = report["terms"]["gay"], report["terms"]["white"]
    assert set(report["terms"]) == {"gay", "white", "african american"}  # dancer has no term
    assert gay["n"] == 4 and gay["fpr"] == pytest.approx(0.5)
    assert white["fpr"] == 0.0
    # gay: positives {0.9, 0.4}, negatives {0.6, 0.2}: pairs won 0.9>0.6, 0.9>0.2, 0.4>0.2 = 3/4
    assert gay["subgroup_auc"] == pytest.approx(0.75)
    assert white["subgroup_auc"] == pytest.approx(1.0)
    assert gay["mean_nontoxic_score"] == pytest.approx(0.4)
    # BPSN(gay): gay negatives {0.6, 0.2} vs background positives {0.8, 0.7, 0.95, 0.99}: 8/8.
    assert gay["bpsn_auc"] == pytest.approx(1.0)
    # BNSP(gay): gay positives {0.9, 0.4} vs background negatives {0.1, 0.3, 0.05, 0.2}:
    # 0.9 beats all 4, 0.4 beats all 4 -> 1.0.
    assert gay["bnsp_auc"] == pytest.approx(1.0)
    # Overall: 1 false positive among 6 negatives.
    assert report["overall_fpr"] == pytest.approx(1 / 6)
    negatives = [s for _, label, s in MADLIBS if label == "NOT_BAD"]
    positives = [s for _, label, s in MADLIBS if label == "BAD"]
    won = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    assert report["overall_auc"] == pytest.approx(won / 36)
    # gay: FPR 0.5 > 2 * 1/6 + 0.05 and AUC 0.75 < overall - 0.05 -> flagged; white is not.
    assert report["flagged_terms"] == ["gay"]


def test_madlibs_accepts_toxic_nontoxic_labels(tmp_path: Path) -> None:
    rows = [(t, "toxic" if label == "BAD" else "nontoxic", s) for t, label, s in MADLIBS]
    report = madlibs_report(scorer_for(rows), write_madlibs(tmp_path / "m.csv", rows))
    assert report["terms"]["gay"]["fpr"] == pytest.approx(0.5)


def test_madlibs_max_rows_keeps_every_term_and_is_seeded(tmp_path: Path) -> None:
    rows = [(f"Name{i} is a {adj} {term}", label, float(i % 7) / 7)
            for term in ("gay", "white", "deaf", "muslim")
            for i, (adj, label) in enumerate([("good", "NOT_BAD"), ("vile", "BAD")] * 25)]
    path = write_madlibs(tmp_path / "m.csv", rows)
    a = madlibs_report(scorer_for(rows), path, max_rows=40, seed=1)
    b = madlibs_report(scorer_for(rows), path, max_rows=40, seed=1)
    assert a == b and a["n"] == 40
    assert {t: m["n"] for t, m in a["terms"].items()} == {t: 10 for t in
                                                           ("deaf", "gay", "muslim", "white")}


def test_single_class_term_gives_none_not_nan(tmp_path: Path) -> None:
    rows = [("Ann is a good gay", "NOT_BAD", 0.1), ("Ann is a vile white", "BAD", 0.9),
            ("Bo is a good white", "NOT_BAD", 0.2)]
    report = madlibs_report(scorer_for(rows), write_madlibs(tmp_path / "m.csv", rows))
    assert report["terms"]["gay"]["subgroup_auc"] is None
    assert report["terms"]["gay"]["bnsp_auc"] is None  # no gay positives


def test_debiasing_fpr_per_term(tmp_path: Path) -> None:
    report = debiasing_report(scorer_for(DEBIASING), write_debiasing(tmp_path / "d.tsv"))
    assert report["n"] == 4
    assert report["overall_fpr"] == pytest.approx(2 / 4)  # 0.7 and 0.6 reach 0.5
    terms = report["terms"]
    assert terms["gay"] == {"n": 2, "fpr": 0.5}
    assert terms["lgbt"] == {"n": 1, "fpr": 0.0}
    assert terms["white"] == {"n": 1, "fpr": 1.0}
    assert terms["african american"] == {"n": 1, "fpr": 1.0}
    assert "african" not in terms and "american" not in terms


def test_bias_report_runs_both_or_skips(tmp_path: Path) -> None:
    assert "skipped" in bias_report(scorer_for([]), tmp_path)
    folder = tmp_path / "wikipedia_toxicity_bias_eval"
    folder.mkdir()
    write_madlibs(folder / "bias_madlibs_77k.csv")
    scorer = scorer_for(MADLIBS + [(t, s) for t, s in DEBIASING])
    partial = bias_report(scorer, tmp_path, max_rows=None)
    assert partial["madlibs"]["n"] == 12 and "skipped" in partial["debiasing"]
    write_debiasing(folder / "toxicity_debiasing_data.tsv")
    full = bias_report(scorer, tmp_path, max_rows=None, batch_size=4)
    assert full["madlibs"]["flagged_terms"] == ["gay"]
    assert full["debiasing"]["overall_fpr"] == pytest.approx(0.5)
    assert not np.isnan(full["madlibs"]["overall_auc"])


@pytest.mark.skipif(not Path("/work/shared/datasets/wikipedia_toxicity_bias_eval").is_dir(),
                    reason="shared datasets not present")
def test_real_files_parse_with_a_constant_scorer() -> None:
    folder = Path("/work/shared/datasets")
    report = bias_report(FakeScorer({}, threshold=0.5), folder, max_rows=500)
    madlibs = report["madlibs"]
    assert 490 <= madlibs["n"] <= 510 and len(madlibs["terms"]) == 50
    assert madlibs["overall_fpr"] == 0.0 and madlibs["overall_auc"] == pytest.approx(0.5)
    assert report["debiasing"]["n"] >= 490 and "gay" in report["debiasing"]["terms"]
