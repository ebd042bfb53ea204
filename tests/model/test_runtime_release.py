"""Quality guard of the shipped model's runtime form (int8 ONNX Runtime) against the PyTorch
reference on a fixed in-repo sample: the coalition thread (hand labels for incivility,
personal_attack and off_topic; scored with and without its context), the article's paragraphs
and the release tests' clear cases. ``benchmarks/runtime_quality.py`` runs the same comparison
on the full validation data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.loading import build_runtime
from model.metrics import roc_auc
from model.runtime import OnnxScorer
from model.scorer import RELEASE_DIR, Article, Comment, Scorer

THREAD = Path(__file__).resolve().parents[1] / "fixtures" / "coalition_thread.json"
CLEAR_CASES = [
    "I see your point, but I respectfully disagree: the figures in the article suggest the "
    "opposite, at least for the last two years.",
    "You're an idiot.",
    "The prime minister is a spineless, lying coward.",
]
AUC_TOLERANCE = 0.005


def fixed_sample() -> tuple[list[Comment], dict[str, list[int]]]:
    """Thread comments with context (labelled), then the same texts bare, the article's
    paragraphs and the clear cases (unlabelled: used for score agreement)."""
    data = json.loads(THREAD.read_text(encoding="utf-8"))
    body = data["article"]["body"]
    article = Article(title=data["article"]["title"], text=body)
    by_id = {c["id"]: c for c in data["comments"]}
    threaded = [Comment(text=c["text"], id=c["id"], article=article,
                        parent=by_id[c["parent_id"]]["text"] if c["parent_id"] else None)
                for c in data["comments"]]
    labels = {name: [c["labels"][name] for c in data["comments"]]
              for name in ("incivility", "personal_attack", "off_topic")}
    extra = [c["text"] for c in data["comments"]]
    extra += [p for p in body.split("\n\n") if len(p.split()) > 5] + CLEAR_CASES
    return threaded + [Comment(text=t) for t in extra], labels


@pytest.fixture(scope="module")
def both_forms(tmp_path_factory):
    sample, labels = fixed_sample()
    runtime = OnnxScorer.from_pretrained(
        RELEASE_DIR, build_runtime(RELEASE_DIR, cache_dir=tmp_path_factory.mktemp("release"))
    )
    reference = Scorer.from_pretrained(RELEASE_DIR)
    return runtime.score(sample), reference.score(sample), labels


@pytest.mark.parametrize("attribute", ["incivility", "personal_attack", "off_topic"])
@pytest.mark.parametrize("context", [True, False], ids=["with-context", "bare"])
def test_runtime_thread_roc_auc_within_tolerance_of_pytorch(both_forms, attribute, context):
    """With context a comment goes through the fp32 graphs (which match PyTorch), bare through
    the int8 one. On 22 comments one positive/negative pair ranked the other way moves ROC-AUC
    by 1 / (positives x negatives) = 0.005-0.009, more than the guard's 0.005, so the int8 path
    is allowed two such pairs here; the 0.005 guard itself is measured on the validation data
    by ``benchmarks/runtime_quality.py`` (see benchmarks/RESULTS.md)."""
    runtime, reference, labels = both_forms
    if attribute == "off_topic" and not context:
        pytest.skip("off_topic is unscored without context")
    y = labels[attribute]
    n = len(y)
    rows = slice(0, n) if context else slice(n, 2 * n)
    auc = [roc_auc(y, [r.scores[attribute] for r in results[rows]])
           for results in (runtime, reference)]
    pairs = sum(y) * (n - sum(y))
    tolerance = AUC_TOLERANCE if context else max(AUC_TOLERANCE, 2 / pairs)
    assert abs(auc[0] - auc[1]) <= tolerance, auc


def test_runtime_scores_agree_with_pytorch_for_every_attribute(both_forms):
    runtime, reference, _ = both_forms
    for name in reference[0].scores:
        pairs = np.array([(a.scores[name], b.scores[name]) for a, b in zip(runtime, reference,
                                                                           strict=True)
                          if b.scores[name] is not None])
        gap = np.abs(pairs[:, 0] - pairs[:, 1])
        # measured on this sample: mean gap at most 0.012 (incivility), max 0.19 (sarcasm);
        # per-tensor int8 roughly doubles both
        assert gap.mean() < 0.02 and gap.max() < 0.25, (name, gap.mean(), gap.max())


def test_runtime_flags_agree_with_pytorch_on_almost_every_comment(both_forms):
    runtime, reference, _ = both_forms
    differing = sum(a.flags != b.flags for a, b in zip(runtime, reference, strict=True))
    assert differing <= 0.1 * len(reference), differing
