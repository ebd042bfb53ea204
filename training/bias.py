"""Bias checks: does the ``incivility`` score treat identity terms unfairly?

Two public datasets from the Wikipedia toxicity debiasing work (Dixon et al. 2018):

* ``bias_madlibs_77k.csv``: template sentences ("Sohaib is a good african", "i hate canadian")
  filled with each identity term, labelled toxic or not. Per term we report the false-positive
  rate at the artifact's flag threshold, the subgroup ROC-AUC and the BPSN/BNSP AUCs of
  Borkan et al. 2019 ("Nuanced metrics for measuring unintended bias").
* ``toxicity_debiasing_data.tsv``: real, non-toxic Wikipedia sentences mentioning identity terms;
  every flag is a false positive, so the FPR per term is the whole story.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.metrics import json_float, roc_auc

ATTRIBUTE = "incivility"
BIAS_DIR = "wikipedia_toxicity_bias_eval"
MADLIBS = "bias_madlibs_77k.csv"
DEBIASING = "toxicity_debiasing_data.tsv"

TERMS_FILE = Path(__file__).with_name("identity_terms.txt")


def load_identity_terms(path: Path | str = TERMS_FILE) -> tuple[str, ...]:
    """Identity terms from a text file: one a line, lower-cased, ``#`` comments, no repeats."""
    terms: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        term = " ".join(line.split("#", 1)[0].lower().split())
        if term and term not in terms:
            terms.append(term)
    if not terms:
        raise ValueError(f"{path}: no identity terms (one per line)")
    return tuple(terms)


def term_pattern(terms: Sequence[str]) -> re.Pattern[str]:
    """A regex matching ``terms`` as whole words, case-insensitive, longest first (so "african
    american" wins over "african"); inside a multi-word term a hyphen counts as a space."""
    alternatives = (r"[\s-]+".join(map(re.escape, t.split()))
                    for t in sorted(terms, key=len, reverse=True))
    return re.compile(r"(?<!\w)(" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


# The identity terms of Dixon et al. 2018, as used to build the madlibs set.
IDENTITY_TERMS: tuple[str, ...] = load_identity_terms()
_TERM_RE = term_pattern(IDENTITY_TERMS)
TOXIC_LABELS = frozenset({"toxic", "bad", "1", "true"})
NONTOXIC_LABELS = frozenset({"nontoxic", "non-toxic", "not_bad", "not bad", "0", "false"})


def find_terms(text: str, *, pattern: re.Pattern[str] = _TERM_RE) -> list[str]:
    """Identity terms in ``text`` (whole words, case-insensitive, longest match), in order;
    ``pattern`` from :func:`term_pattern` for another term list."""
    found = []
    for match in pattern.finditer(text):
        term = " ".join(re.split(r"[\s-]+", match.group(1).lower()))
        if term not in found:
            found.append(term)
    return found


def _label(value: str) -> int | None:
    # The published file says BAD/NOT_BAD; other releases say toxic/nontoxic.
    value = value.strip().lower()
    return 1 if value in TOXIC_LABELS else 0 if value in NONTOXIC_LABELS else None


def _score(scorer, texts: Sequence[str], batch_size: int) -> np.ndarray:
    results = scorer.score(list(texts), batch_size=batch_size) if texts else []
    # None (unscorable) becomes NaN and is dropped by the callers.
    return np.array([np.nan if r.scores.get(ATTRIBUTE) is None else r.scores[ATTRIBUTE]
                     for r in results], dtype=np.float64)



def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    return json_float(roc_auc(y, s)) if y.size else None


def _fpr(y: np.ndarray, flagged: np.ndarray) -> float | None:
    negatives = y == 0
    return float(flagged[negatives].mean()) if negatives.any() else None


def _stratified(keys: list[str], max_rows: int | None, seed: int) -> np.ndarray:
    """Row indices: all, or ``max_rows`` drawn so every key keeps its share (at least one)."""
    n = len(keys)
    if max_rows is None or max_rows >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    chosen: list[int] = []
    for key in sorted(groups):
        rows = groups[key]
        take = min(len(rows), max(1, round(max_rows * len(rows) / n)))
        chosen += rng.choice(rows, size=take, replace=False).tolist()
    return np.array(sorted(chosen), dtype=np.int64)


def _read_rows(path: Path, delimiter: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def madlibs_report(
    scorer, path: Path, *, batch_size: int = 64, max_rows: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Per-identity-term FPR, subgroup/BPSN/BNSP ROC-AUC and mean non-toxic score.

    Rows without an identity term (the occupation templates) count towards the overall
    numbers and the background of BPSN/BNSP only. A term is flagged when its FPR exceeds
    ``2 * overall FPR + 0.05`` or its subgroup AUC falls more than 0.05 below the overall AUC.
    """
    rows = [r for r in _read_rows(Path(path), ",") if _label(r.get("Label", "")) is not None]
    terms = [(find_terms(r.get("Text", "")) or [""])[0] for r in rows]
    keep = _stratified(terms, max_rows, seed)
    texts = [rows[i]["Text"] for i in keep]
    y = np.array([_label(rows[i]["Label"]) for i in keep], dtype=np.int64)
    group = np.array([terms[i] for i in keep], dtype=object)
    scores = _score(scorer, texts, batch_size)
    scored = ~np.isnan(scores)
    y, group, scores = y[scored], group[scored], scores[scored]
    threshold = float(scorer.threshold(ATTRIBUTE))
    flagged = scores >= threshold  # the scorer flags at ">= threshold" too

    overall_auc, overall_fpr = _auc(y, scores), _fpr(y, flagged)
    terms = sorted(t for t in set(group.tolist()) if t)
    membership = group[:, None] == np.array(terms, dtype=object)[None, :]
    per_term = subgroup_metrics(y, scores, membership, terms=terms, threshold=threshold)
    return {
        "n": int(y.size),
        "attribute": ATTRIBUTE,
        "threshold": threshold,
        "overall_auc": overall_auc,
        "overall_fpr": overall_fpr,
        "terms": per_term,
        "flagged_terms": flag_terms(per_term, overall_auc=overall_auc, overall_fpr=overall_fpr),
    }


def subgroup_metrics(
    y: np.ndarray,
    scores: np.ndarray,
    membership: np.ndarray,
    *,
    terms: Sequence[str],
    threshold: float,
) -> dict[str, dict[str, Any]]:
    """Per identity term, the bias metrics of Borkan et al. 2019 (the Jigsaw Unintended Bias
    competition's): subgroup ROC-AUC (only comments mentioning the term), BPSN AUC (background
    positives with subgroup negatives: low when non-toxic mentions score high) and BNSP AUC
    (background negatives with subgroup positives: low when toxic mentions score low), plus the
    false-positive rate at ``threshold`` and the mean score of the term's non-toxic comments.

    ``y`` is 0/1, ``scores`` probabilities, ``membership`` an (n, len(terms)) boolean matrix (a
    comment may mention several terms; the background of a term is every comment that does not
    mention it). Terms no comment mentions are left out; undefined AUCs are ``None``.
    """
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    membership = np.asarray(membership, dtype=bool)
    flagged = scores >= threshold  # the scorer flags at ">= threshold" too
    out: dict[str, dict[str, Any]] = {}
    for k, term in enumerate(terms):
        inside = membership[:, k]
        if not inside.any():
            continue
        sub_neg, sub_pos = inside & (y == 0), inside & (y == 1)
        bg_neg, bg_pos = ~inside & (y == 0), ~inside & (y == 1)
        bpsn = sub_neg | bg_pos  # background positive, subgroup negative
        bnsp = sub_pos | bg_neg  # background negative, subgroup positive
        out[term] = {
            "n": int(inside.sum()),
            "positives": int(sub_pos.sum()),
            "fpr": _fpr(y[inside], flagged[inside]),
            "subgroup_auc": _auc(y[inside], scores[inside]),
            "bpsn_auc": _auc(y[bpsn], scores[bpsn]),
            "bnsp_auc": _auc(y[bnsp], scores[bnsp]),
            "mean_nontoxic_score": float(scores[sub_neg].mean()) if sub_neg.any() else None,
        }
    return out


def overall_metrics(
    y: np.ndarray, scores: np.ndarray, *, threshold: float
) -> tuple[float | None, float | None]:
    """ROC-AUC and false-positive rate at ``threshold`` over all rows (``None`` if undefined)."""
    y = np.asarray(y)
    scores = np.asarray(scores, dtype=np.float64)
    return _auc(y, scores), _fpr(y, scores >= threshold)


def generalised_mean(values: Sequence[float | None], *, power: float = -5.0) -> float | None:
    """The power mean the Jigsaw competition used to summarise per-subgroup AUCs: with p = -5
    the worst subgroups dominate. ``None`` entries are skipped; ``None`` if nothing is left."""
    kept = np.array([v for v in values if v is not None], dtype=np.float64)
    if kept.size == 0:
        return None
    return float(np.mean(kept**power) ** (1.0 / power))


def flag_terms(
    per_term: dict[str, dict[str, Any]],
    *,
    overall_auc: float | None,
    overall_fpr: float | None,
    aucs: Sequence[str] = ("subgroup_auc",),
    margin: float = 0.05,
    min_per_class: int = 0,
) -> list[str]:
    """Terms whose FPR exceeds ``2 * overall FPR + margin`` or one of whose ``aucs`` falls more
    than ``margin`` below the overall AUC. A term needs ``min_per_class`` non-toxic comments to
    be judged on FPR and that many of each class to be judged on AUC (small subgroups are noise).
    """
    flagged = []
    for term, m in per_term.items():
        negatives, positives = m["n"] - m.get("positives", 0), m.get("positives", 0)
        high_fpr = (m["fpr"] is not None and overall_fpr is not None
                    and negatives >= min_per_class and m["fpr"] > 2 * overall_fpr + margin)
        low_auc = (overall_auc is not None and min(negatives, positives) >= min_per_class
                   and any(m[key] is not None and m[key] < overall_auc - margin for key in aucs))
        if high_fpr or low_auc:
            flagged.append(term)
    return flagged


def debiasing_report(
    scorer, path: Path, *, batch_size: int = 64, max_rows: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """FPR at the incivility threshold on real non-toxic comments, overall and per term.

    A comment mentioning several terms counts for each of them. Rows marked toxic (none in the
    published file) are left out, since the point is the false-positive rate.
    """
    rows = [r for r in _read_rows(Path(path), "\t")
            if _label(r.get("is_toxic", "false")) != 1 and r.get("comment")]
    mentions = [find_terms(r["comment"]) for r in rows]
    keep = _stratified([m[0] if m else "" for m in mentions], max_rows, seed)
    scores = _score(scorer, [rows[i]["comment"] for i in keep], batch_size)
    threshold = float(scorer.threshold(ATTRIBUTE))
    counts: dict[str, list[int]] = {}
    flagged_total = n = 0
    for i, score in zip(keep.tolist(), scores.tolist(), strict=True):
        if math.isnan(score):
            continue
        flag = int(score >= threshold)
        n += 1
        flagged_total += flag
        for term in mentions[i]:
            counts.setdefault(term, [0, 0])
            counts[term][0] += 1
            counts[term][1] += flag
    return {
        "n": n,
        "attribute": ATTRIBUTE,
        "threshold": threshold,
        "overall_fpr": flagged_total / n if n else None,
        "terms": {t: {"n": c[0], "fpr": c[1] / c[0]} for t, c in sorted(counts.items())},
    }


def bias_report(
    scorer, data_dir: Path, *, max_rows: int | None = 4000, batch_size: int = 64
) -> dict[str, Any]:
    """Both checks on whichever files exist under ``data_dir/wikipedia_toxicity_bias_eval``."""
    folder = Path(data_dir) / BIAS_DIR
    madlibs, debiasing = folder / MADLIBS, folder / DEBIASING
    if not madlibs.is_file() and not debiasing.is_file():
        return {"skipped": f"no {MADLIBS} or {DEBIASING} under {folder}"}
    out: dict[str, Any] = {}
    for key, file, check in (("madlibs", madlibs, madlibs_report),
                             ("debiasing", debiasing, debiasing_report)):
        if file.is_file():
            out[key] = check(scorer, file, batch_size=batch_size, max_rows=max_rows)
        else:
            out[key] = {"skipped": f"{file} not found"}
    return out
