"""Quality guard of the shipped model's runtime forms against the PyTorch reference on a fixed
in-repo sample: the coalition thread (hand labels for incivility, personal_attack and
off_topic; scored with and without its context), the article's paragraphs and the release
tests' clear cases. The default form (fp32) must give PyTorch's scores; the int8 opt-in gets
its looser, documented tolerance. ``benchmarks/runtime_quality.py`` runs the same comparison
on the validation data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.loading import DEFAULT_PRECISION, build_runtime
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
def scored() -> dict:
    """The fixed sample scored by PyTorch, the default runtime form and the int8 opt-in (built
    in the session's cache), with the thread's labels."""
    sample, labels = fixed_sample()
    results = {"labels": labels, "pytorch": Scorer.from_pretrained(RELEASE_DIR).score(sample)}
    for form, precision in (("default", None), ("int8", "int8")):
        directory = build_runtime(RELEASE_DIR, precision=precision)
        results[form] = OnnxScorer.from_pretrained(RELEASE_DIR, directory).score(sample)
    return results


def thread_auc_gap(scored: dict, form: str, attribute: str, context: bool) -> tuple:
    y = scored["labels"][attribute]
    n = len(y)
    rows = slice(0, n) if context else slice(n, 2 * n)
    auc = [roc_auc(y, [r.scores[attribute] for r in scored[name][rows]])
           for name in (form, "pytorch")]
    return abs(auc[0] - auc[1]), sum(y) * (n - sum(y)), auc


def score_gaps(scored: dict, form: str, attribute: str) -> np.ndarray:
    pairs = np.array([(a.scores[attribute], b.scores[attribute])
                      for a, b in zip(scored[form], scored["pytorch"], strict=True)
                      if b.scores[attribute] is not None])
    return np.abs(pairs[:, 0] - pairs[:, 1])


def test_default_form_scores_equal_pytorch_for_every_attribute(scored):
    """The default is fp32 (``DEFAULT_PRECISION``): the only form that met the 0.005 guard on
    validation (benchmarks/RESULTS.md). Its graphs are PyTorch's network, so the scores
    themselves must agree, not only their ranking."""
    assert DEFAULT_PRECISION == "fp32"
    for name in scored["pytorch"][0].scores:
        assert score_gaps(scored, "default", name).max() < 1e-5, name
    assert [r.flags for r in scored["default"]] == [r.flags for r in scored["pytorch"]]


# off_topic needs context: it is unscored on bare comments
THREAD_CASES = [
    pytest.param(name, context, id=f"{name}-{'with-context' if context else 'bare'}")
    for name in ("incivility", "personal_attack", "off_topic")
    for context in (True, False)
    if context or name != "off_topic"
]


@pytest.mark.parametrize(("attribute", "context"), THREAD_CASES)
def test_default_form_thread_roc_auc_within_guard(scored, attribute, context):
    gap, _, auc = thread_auc_gap(scored, "default", attribute, context)
    assert gap <= AUC_TOLERANCE, auc


@pytest.mark.parametrize(("attribute", "context"), THREAD_CASES)
def test_int8_thread_roc_auc_within_its_documented_tolerance(scored, attribute, context):
    """The int8 opt-in is outside the 0.005 guard on validation (sarcasm -0.029 on UCC; see
    benchmarks/RESULTS.md). With context a comment goes through fp32 graphs in every form, so
    the guard holds there; bare comments take the int8 graph. On 22 comments one
    positive/negative pair ranked the other way moves ROC-AUC by 1 / (positives x negatives)
    = 0.005-0.009, so the int8 path is allowed two such pairs."""
    gap, pairs, auc = thread_auc_gap(scored, "int8", attribute, context)
    assert gap <= (AUC_TOLERANCE if context else max(AUC_TOLERANCE, 2 / pairs)), auc


def test_int8_scores_stay_close_to_pytorch_for_every_attribute(scored):
    for name in scored["pytorch"][0].scores:
        gap = score_gaps(scored, "int8", name)
        # measured on this sample: mean gap at most 0.012 (incivility), max 0.19 (sarcasm);
        # per-tensor int8 roughly doubles both
        assert gap.mean() < 0.02 and gap.max() < 0.25, (name, gap.mean(), gap.max())


def test_int8_flags_agree_with_pytorch_on_almost_every_comment(scored):
    differing = sum(a.flags != b.flags for a, b in zip(scored["int8"], scored["pytorch"],
                                                       strict=True))
    assert differing <= 0.1 * len(scored["pytorch"]), differing
