"""The shipped release model on real comments: the coalition thread (a real news article and its
22 reader comments, labelled by hand; never trained on) and a few clear cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.metrics import roc_auc
from model.scorer import RELEASE_DIR, Article, Comment, Scorer

THREAD = Path(__file__).resolve().parents[1] / "fixtures" / "coalition_thread.json"

@pytest.fixture(scope="module")
def release() -> Scorer:
    return Scorer.from_pretrained(RELEASE_DIR)


@pytest.fixture(scope="module")
def thread(release):
    data = json.loads(THREAD.read_text(encoding="utf-8"))
    article = data["article"]
    article = Article(title=article["title"],
                      text="\n\n".join(p for p in (article.get("subtitle"), article["body"]) if p))
    by_id = {c["id"]: c for c in data["comments"]}
    comments = [
        Comment(text=c["text"], id=c["id"], article=article,
                parent=by_id[c["parent_id"]]["text"] if c["parent_id"] else None)
        for c in data["comments"]
    ]
    results = {r.id: r for r in release.score(comments)}
    return data["comments"], results


def test_release_model_is_a_complete_artifact(release):
    for name in ("config.json", "model.safetensors", "thresholds.json", "calibration.json",
                 "metrics.json", "build.json", "README.md"):
        assert (RELEASE_DIR / name).exists(), name
    assert release.config.version == "2.2.1"


def test_biosensor_and_nsa_comments_rank_highest_off_topic(thread):
    comments, results = thread
    ranked = sorted(results, key=lambda i: results[i].scores["off_topic"], reverse=True)
    assert {"c8", "c9"} <= set(ranked[:3]), [(i, results[i].scores["off_topic"]) for i in ranked]
    # a tie at the third score would make the top three depend on the thread's order
    assert results[ranked[3]].scores["off_topic"] < results[ranked[2]].scores["off_topic"]


def test_the_nsa_comment_is_flagged_off_topic(thread):
    # release 2.2.1: c8, c9 and c13 share the isotonic step at the off_topic threshold (logits
    # 1.157-1.461 -> 0.720; theirs 1.27-1.33, in int8 1.24-1.40); 2.2.0 cut one step higher
    comments, results = thread
    assert "off_topic" in results["c9"].flags, results["c9"].scores["off_topic"]


def test_no_on_topic_comment_is_flagged_off_topic(thread):
    comments, results = thread
    flagged = [c["id"] for c in comments
               if c["labels"]["off_topic"] == 0 and "off_topic" in results[c["id"]].flags]
    assert flagged == []


@pytest.mark.parametrize("attribute", ["personal_attack", "incivility"])
def test_thread_roc_auc_against_hand_labels(thread, attribute):
    comments, results = thread
    labels = [c["labels"][attribute] for c in comments]
    scores = [results[c["id"]].scores[attribute] for c in comments]
    assert roc_auc(labels, scores) >= 0.85


def test_polite_disagreement_is_not_flagged(release):
    result = release.score("I see your point, but I respectfully disagree: the figures in the "
                           "article suggest the opposite, at least for the last two years.")
    assert not {"incivility", "personal_attack"} & set(result.flags)


def test_calling_a_commenter_an_idiot_is_a_personal_attack(release):
    assert "personal_attack" in release.score("You're an idiot.").flags


def test_insulting_a_politician_is_incivility_not_a_personal_attack(release):
    result = release.score("The prime minister is a spineless, lying coward.")
    assert "incivility" in result.flags
    assert "personal_attack" not in result.flags


def test_attributes_too_imprecise_to_flag_are_scored_but_never_flagged(release):
    result = release.score("Oh sure, because people like you always know best, genius.")
    for name in ("sarcasm", "unfair_generalisation", "condescension"):
        assert release.thresholds["attributes"][name]["threshold"] is None
        assert result.scores[name] is not None and name not in result.flags
