"""``/v1/threads:score``: every comment with its article and parent, and where it drifts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.comments import ScoreResult
from service.schemas import ThreadRequest
from service.scoring import find_drift

THREAD = Path(__file__).resolve().parents[1] / "fixtures" / "coalition_thread.json"


@pytest.fixture(scope="module")
def coalition() -> dict:
    return json.loads(THREAD.read_text(encoding="utf-8"))


def test_coalition_thread_is_scored_in_order_with_context(client, coalition):
    response = client.post("/v1/threads:score", json=coalition)
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert [r["id"] for r in results] == [c["id"] for c in coalition["comments"]]
    assert all(r["scores"]["off_topic"] is not None for r in results)  # article as context
    assert [r["depth"] for r in results] == [c["depth"] for c in coalition["comments"]]
    flagged = {r["id"] for r in results if "off_topic" in r["flags"]}
    in_drift = {m for d in body["drift"] for m in d["comments"]}
    assert in_drift == flagged


def test_drift_starts_where_an_off_topic_reply_leaves_an_on_topic_parent():
    body = ThreadRequest(article={"title": "t"}, comments=[
        {"id": "a", "text": "x"}, {"id": "b", "parent_id": "a", "text": "x"},
        {"id": "c", "parent_id": "b", "text": "x"}, {"id": "d", "parent_id": "c", "text": "x"},
        {"id": "e", "parent_id": "a", "text": "x"},
    ])
    off = {"b", "c", "e"}
    results = [ScoreResult(scores={"off_topic": 0.9 if c.id in off else 0.1},
                           flags=["off_topic"] if c.id in off else [], model="m", id=c.id)
               for c in body.comments]
    out, drift = find_drift(body, results, [0, 1, 2, 3, 1])
    assert [(d.start, d.comments) for d in drift] == [("b", ["b", "c"]), ("e", ["e"])]
    assert [o.drift_start for o in out] == [False, True, False, False, True]


def test_registered_article_can_be_named_by_id(client, coalition):
    article = coalition["article"]
    created = client.post("/v1/articles", json={"id": "coalition", "title": article["title"],
                                                "text": article["body"], "url": None})
    assert created.status_code == 201
    again = client.post("/v1/articles", json={"id": "coalition", "title": article["title"]})
    assert again.status_code == 200 and not again.json()["created"]
    body = {"article_id": "coalition", "comments": coalition["comments"][:3]}
    response = client.post("/v1/threads:score", json=body)
    assert response.status_code == 200 and response.json()["article_id"] == "coalition"


@pytest.mark.parametrize(
    ("comments", "field"),
    [
        ([{"id": "a", "text": "x", "parent_id": "zz"}], "comments[0].parent_id"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "comments[1].id"),
        ([{"id": "a", "text": "x", "parent_id": "b"}, {"id": "b", "text": "y", "parent_id": "a"}],
         "comments[0].parent_id"),
    ],
)
def test_broken_threads_are_422_naming_the_field(client, comments, field):
    response = client.post("/v1/threads:score",
                           json={"article": {"title": "t"}, "comments": comments})
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_a_thread_needs_an_article(client):
    response = client.post("/v1/threads:score", json={"comments": [{"id": "a", "text": "x"}]})
    assert response.status_code == 422 and response.json()["field"] == "article"


def test_unknown_article_id_is_422(client):
    response = client.post("/v1/threads:score",
                           json={"article_id": "nope", "comments": [{"id": "a", "text": "x"}]})
    assert response.status_code == 422 and response.json()["field"] == "article_id"
