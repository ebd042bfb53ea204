from __future__ import annotations


def test_health_names_the_model(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["model"] == "tiny@0.0.1"


def test_score_returns_one_result_per_comment_in_order(client):
    comments = [
        {"id": "a", "text": "you are an idiot"},
        {"id": "b", "text": "good point", "article": {"title": "war in syria"}, "parent": "why"},
    ]
    response = client.post("/v1/score", json={"comments": comments, "spans": True})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["a", "b"]
    assert results[0]["scores"]["off_topic"] is None
    assert "off_topic" in results[0]["unscored"]
    assert 0.0 <= results[1]["scores"]["off_topic"] <= 1.0
    assert "incivility" in results[0]["spans"]


def test_score_rejects_empty_text_naming_the_field(client):
    response = client.post("/v1/score", json={"comments": [{"text": ""}]})
    assert response.status_code == 422
    assert "comments[0]" in response.json()["message"]


def test_score_rejects_too_many_comments(client):
    response = client.post("/v1/score", json={"comments": [{"text": "hi"}] * 5})
    assert response.status_code == 413
    assert "comments" in response.json()["detail"]


def test_scored_comments_are_recorded_with_the_model_version(client):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from service.db import ScoredComment

    client.post("/v1/score", json={"comments": [{"id": "x", "text": "thanks"}]})
    with Session(client.app.state.engine) as session:
        rows = session.scalars(select(ScoredComment)).all()
    assert [(r.external_id, r.model) for r in rows] == [("x", "tiny@0.0.1")]
