"""Label audit: rank training examples whose label is likely wrong (`civility audit-labels`).

Method: confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 70, 2021; the method behind the ``cleanlab`` package).
For each (source, attribute) with enough positives and negatives among the train records:

1. features are the artifact encoder's mean-pooled embeddings of the comments;
2. out-of-fold probabilities come from a stratified K-fold logistic regression, so every
   example is scored by a model that never saw its label (an in-sample model would simply
   memorise the wrong labels we are looking for);
3. quality = the out-of-fold probability of the GIVEN label (cleanlab's "self_confidence");
   low quality = likely mislabelled, and the report lists the lowest first;
4. likely issues are the off-diagonal of the confident joint, with cleanlab's rule that an
   example the model agrees with is never an issue.

Cost: one encoder pass over the train comments plus K small regressions per group. On the full
data this takes minutes on a CPU; ``data.max_records_per_source=N`` (config or override) caps it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.attributes import CONTEXT_ATTRIBUTES
from model.encoding import encode_texts, length_sorted_batches, pad_batch
from model.text import normalise
from training.records import Record

MIN_PER_CLASS = 10
TEXT_CHARS = 300


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, *, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """P(label = 1) for every example from a stratified K-fold logistic regression whose
    training folds exclude that example (cross-validated ``pred_probs``, Northcutt et al. 2021).

    ``labels`` are binary; ``folds`` is lowered to the minority class size when needed.
    Pure: the inputs are not modified and the result depends only on them and ``seed``.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    if set(np.unique(y)) - {0, 1} or len(x) != len(y):
        raise ValueError("labels must be binary 0/1, one per row of features")
    smallest = int(min(np.sum(y == 0), np.sum(y == 1)))
    folds = min(folds, smallest)
    if folds < 2:
        raise ValueError("out-of-fold probabilities need at least 2 examples of each class")
    probs = np.empty(len(y), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(x, y):
        # balanced: rare positives would otherwise be pulled to the majority class, and every
        # minority example would look mislabelled. Standardised (fit on the training folds
        # only): unit-length embeddings are ~1/sqrt(hidden) per dimension, a scale at which the
        # default L2 penalty (C=1) would shrink the weights and flatten the probabilities.
        model = make_pipeline(StandardScaler(),
                              LogisticRegression(class_weight="balanced", max_iter=1000))
        model.fit(x[fit_rows], y[fit_rows])
        probs[held_rows] = model.predict_proba(x[held_rows])[:, 1]
    return probs


def _two_columns(probs: np.ndarray) -> np.ndarray:
    """(n,) P(label = 1) or (n, 2) class probabilities -> (n, 2)."""
    p = np.asarray(probs, dtype=np.float64)
    return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p


def label_issue_ranking(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Quality per example: the probability given to its own label ("self_confidence" in
    cleanlab's ``get_label_quality_scores``). Lower = more likely mislabelled."""
    y = np.asarray(labels).astype(int)
    return _two_columns(probs)[np.arange(len(y)), y]


def find_label_issues(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Boolean mask of likely label issues by confident learning (Northcutt et al. 2021, §3).

    Per class j the threshold t_j is the mean probability of j over the examples labelled j.
    An example labelled i is counted as confidently belonging to j != i (an off-diagonal entry
    of the confident joint) when p_j >= t_j and j is the most probable of the classes above
    their thresholds; like cleanlab, an example whose given label is the model's argmax is
    never flagged, so for two classes: p_other >= t_other and p_other > p_given.
    """
    y = np.asarray(labels).astype(int)
    p = _two_columns(probs)
    classes = p.shape[1]
    thresholds = np.array([p[y == j, j].mean() if np.any(y == j) else np.inf
                           for j in range(classes)])
    # cleanlab's tolerance, so an example exactly at the threshold counts as above it
    above = p >= thresholds - 1e-6
    confident = np.where(above, p, -np.inf).argmax(axis=1)
    off_diagonal = above.any(axis=1) & (confident != y)
    return off_diagonal & (p.argmax(axis=1) != y)


def embed_records(scorer, records: list[Record], *, batch_size: int = 32) -> np.ndarray:
    """(n, hidden) unit mean-pooled embeddings of the normalised texts by the artifact encoder,
    tokenised exactly as at scoring time (same length limit and head-and-tail truncation)."""
    encoded = encode_texts(scorer.tokenizer, [normalise(r.text) for r in records],
                           max_length=scorer.config.max_length,
                           head_fraction=scorer.config.head_fraction)
    out = np.zeros((len(records), scorer.network.encoder.config.hidden_size), dtype=np.float32)
    # batches of similar length waste little compute on padding
    for rows in length_sorted_batches([len(e.input_ids) for e in encoded], batch_size):
        ids, mask = pad_batch([encoded[i] for i in rows], pad_id=scorer.tokenizer.pad_token_id)
        with torch.inference_mode():
            pooled = torch.nn.functional.normalize(scorer.network(ids, mask)["pooled"], dim=-1)
        out[rows] = pooled.float().numpy()
    return out


def audit(records: list[Record], scorer, *, folds: int = 5, seed: int = 0,
          top: int = 20) -> list[dict]:
    """The ``top`` lowest-quality train examples per (source, attribute) with at least
    ``MIN_PER_CLASS`` positives and negatives, lowest first.

    Each row has source, attribute, text (first 300 characters), given_label,
    predicted_probability (out-of-fold P(attribute)), quality, is_issue and rank, plus its
    group's summary: ``issues`` (likely label issues in the group) and ``examples`` (audited).
    """
    train = [r for r in records if r.split == "train"]
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, record in enumerate(train):
        for name in record.labels:
            # off_topic depends on the article/parent, which comment embeddings do not see
            if name not in CONTEXT_ATTRIBUTES:
                groups[(record.source, name)].append(i)
    # Features are the embeddings alone, not the artifact's own logits: its heads were trained
    # on these very labels (wrong ones included), so their logits would echo the noise and
    # hide it. The encoder was fine-tuned on them too, but only through a shared representation.
    needed = sorted({i for rows in groups.values() for i in rows})
    features = np.zeros((len(train), scorer.network.encoder.config.hidden_size), np.float32)
    if needed:
        features[needed] = embed_records(scorer, [train[i] for i in needed])
    results: list[dict] = []
    for (source, name), rows in sorted(groups.items()):
        labels = np.array([train[i].labels[name] >= 0.5 for i in rows], dtype=int)
        if min(labels.sum(), len(labels) - labels.sum()) < MIN_PER_CLASS:
            continue
        probs = out_of_fold_probabilities(features[rows], labels, folds=folds, seed=seed)
        quality = label_issue_ranking(labels, probs)
        issues = find_label_issues(labels, probs)
        for rank, k in enumerate(np.argsort(quality, kind="stable")[:top], start=1):
            results.append({
                "source": source, "attribute": name, "text": train[rows[k]].text[:TEXT_CHARS],
                "given_label": int(labels[k]), "predicted_probability": float(probs[k]),
                "quality": float(quality[k]), "is_issue": bool(issues[k]), "rank": rank,
                "issues": int(issues.sum()), "examples": len(rows)})
    return results


def format_report(rows: list[dict]) -> str:
    """A readable report: per group the count of likely issues, then its lowest-quality rows."""
    if not rows:
        return (f"no (source, attribute) has {MIN_PER_CLASS}+ positives and negatives "
                "among the train records: nothing to audit")
    lines: list[str] = []
    for row in rows:
        if row["rank"] == 1:
            if lines:
                lines.append("")
            lines.append(f"{row['source']} / {row['attribute']}: {row['issues']} likely label "
                         f"issues among {row['examples']} train examples")
        text = " ".join(row["text"].split())
        text = text if len(text) <= 100 else text[:97] + "..."
        flag = "  ISSUE" if row["is_issue"] else ""
        lines.append(f"  {row['rank']:>3}. given {row['given_label']}  "
                     f"OOF p={row['predicted_probability']:.3f}  "
                     f"quality={row['quality']:.3f}{flag}  {text!r}")
    return "\n".join(lines)
