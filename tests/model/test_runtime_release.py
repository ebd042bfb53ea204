"""Quality guard of the shipped model's runtime forms against the PyTorch reference on a fixed
in-repo sample: the coalition thread (hand labels for incivility, personal_attack and
off_topic; scored with and without its context), the article's paragraphs and the release
tests' clear cases. The fp32 form must give PyTorch's scores; the default int8 form must keep
every ROC-AUC within the 0.005 guard and its scores close. ``benchmarks/runtime_quality.py``
runs the same comparison on the validation data."""

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
    """The fixed sample scored by PyTorch, the default runtime form (int8) and the fp32 form
    (built in the session's cache): results, and under "FORM logits" their logits; with the
    thread's labels."""
    sample, labels = fixed_sample()
    scorers = {"pytorch": Scorer.from_pretrained(RELEASE_DIR)}
    for form, precision in (("default", None), ("fp32", "fp32")):
        directory = build_runtime(RELEASE_DIR, precision=precision)
        scorers[form] = OnnxScorer.from_pretrained(RELEASE_DIR, directory)
    results = {"labels": labels}
    for form, scorer in scorers.items():
        results[form] = scorer.score(sample)
        results[f"{form} logits"] = [row["logits"] for row in scorer.raw_scores(sample)]
    return results


def thread_auc_gap(scored: dict, form: str, attribute: str, context: bool) -> tuple:
    """ROC-AUC of the logits, as the validation guard judges it (``runtime_quality.py``): the
    isotonic calibrators map ranges of logits to one score, and on 22 comments a logit moving
    across a step boundary turns ties into ranked pairs (measured: int8 0.858 vs 0.842 on
    calibrated bare incivility, one pair apart on the logits)."""
    y = scored["labels"][attribute]
    n = len(y)
    rows = slice(0, n) if context else slice(n, 2 * n)
    auc = [roc_auc(y, [logits[attribute] for logits in scored[f"{name} logits"][rows]])
           for name in (form, "pytorch")]
    return abs(auc[0] - auc[1]), sum(y) * (n - sum(y)), auc


def score_gaps(scored: dict, form: str, attribute: str) -> np.ndarray:
    pairs = np.array([(a.scores[attribute], b.scores[attribute])
                      for a, b in zip(scored[form], scored["pytorch"], strict=True)
                      if b.scores[attribute] is not None])
    return np.abs(pairs[:, 0] - pairs[:, 1])


def test_fp32_form_scores_equal_pytorch_for_every_attribute(scored):
    """fp32 graphs are PyTorch's network, so the scores themselves must agree, not only their
    ranking. (Scores have 6 decimals; a steep isotonic step turns float rounding in the
    logits into up to 1e-5, measured on condescension.)"""
    for name in scored["pytorch"][0].scores:
        assert score_gaps(scored, "fp32", name).max() < 2e-5, name
    assert [r.flags for r in scored["fp32"]] == [r.flags for r in scored["pytorch"]]


# off_topic needs context: it is unscored on bare comments
THREAD_CASES = [
    pytest.param(name, context, id=f"{name}-{'with-context' if context else 'bare'}")
    for name in ("incivility", "personal_attack", "off_topic")
    for context in (True, False)
    if context or name != "off_topic"
]


@pytest.mark.parametrize("form", ["default", "fp32"])
@pytest.mark.parametrize(("attribute", "context"), THREAD_CASES)
def test_thread_roc_auc_within_guard(scored, form, attribute, context):
    """On 22 comments one positive/negative pair ranked the other way moves ROC-AUC by
    1 / (positives x negatives) = 0.005-0.01: the sample's resolution, so the int8 form may
    differ from PyTorch by a pair or two (validation, with 10-50x the pairs, holds it to 0.005)."""
    gap, pairs, auc = thread_auc_gap(scored, form, attribute, context)
    one_pair = 1 / pairs + 1e-12  # ROC-AUCs are sums of floats
    # int8 on release 2.2.0 and 2.2.1 (the same weights): no pair moves (incivility 0.892,
    # personal_attack 0.924, off_topic 1.000; 2.1.0: two pairs on personal_attack, one on
    # incivility); on 2,359 validation records of 8 sources every attribute with 10+ positives
    # stays within 0.005 (benchmarks/RESULTS.md, "Release 2.2.0" and "Release 2.2.1")
    assert gap <= (AUC_TOLERANCE if form == "fp32" else max(AUC_TOLERANCE, 2 * one_pair)), auc


def test_default_form_is_int8_with_scores_close_to_pytorch(scored):
    """int8 within the guard on validation (benchmarks/RESULTS.md section 5); its single scores
    move a little (dynamic quantisation: one activation scale per batch)."""
    assert DEFAULT_PRECISION == "int8"
    for name in scored["pytorch"][0].scores:
        gap = score_gaps(scored, "default", name)
        # measured on this sample (2.2.1): mean gap at most 0.017 (off_topic: its isotonic steps
        # are steep, a small logit move crosses one), max 0.113 (personal_attack; 2.1.0: 0.087).
        # int8 kernels differ a little between CPUs: the bound leaves room
        assert gap.mean() < 0.025 and gap.max() < 0.15, (name, gap.mean(), gap.max())


def test_default_form_flags_agree_with_pytorch_on_almost_every_comment(scored):
    # 2.2.1: one of 59 differs, c8 off_topic under the article's body alone (int8 logit 1.20,
    # inside the isotonic step the threshold cuts at, 1.157; PyTorch 1.14, under it); 2.2.0: none
    differing = sum(a.flags != b.flags for a, b in zip(scored["default"], scored["pytorch"],
                                                       strict=True))
    assert differing <= 0.05 * len(scored["pytorch"]), differing


def test_default_form_fuses_and_quantises_every_layer_of_the_release():
    """Both graphs run 6 layers (the pair graph: the 3 shared ones and the off-topic branch's
    3), each one QAttention and three int8 matrices (attention output, FFN up, FFN down)."""
    import onnx

    directory = build_runtime(RELEASE_DIR)
    layers = OnnxScorer.from_pretrained(RELEASE_DIR, directory).config.encoder[
        "num_hidden_layers"]
    for graph in ("comment", "pair"):
        ops = [n.op_type for n in onnx.load(str(directory / f"{graph}.onnx")).graph.node]
        assert (ops.count("QAttention"), ops.count("MatMulInteger")) == (layers, 3 * layers)
        assert "Softmax" not in ops


def test_the_release_word_embeddings_are_one_shared_file():
    """Two graphs, one copy of the word-embedding table in memory, in fp16 (23 MB; the
    release's weights are fp16, so nothing is rounded)."""
    directory = build_runtime(RELEASE_DIR)
    built = json.loads((directory / "runtime.json").read_text(encoding="utf-8"))
    [(name, file)] = built["shared_initializers"].items()
    assert name.endswith("word_embeddings.weight")
    table = np.load(directory / file, mmap_mode="r")
    assert table.shape == (30522, 384) and table.dtype == np.float16
