from __future__ import annotations

import pytest


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


def test_article_and_parent_can_be_named_by_id(client):
    client.post("/v1/articles", json={"id": "a1", "title": "War in Syria", "text": "Bombs."})
    client.post("/v1/score", json={"comments": [{"id": "p1", "text": "Putin again."}]})
    response = client.post("/v1/score", json={"comments": [
        {"id": "r1", "text": "Nonsense.", "article_id": "a1", "parent_id": "p1"}]})
    assert response.status_code == 200
    assert response.json()["results"][0]["scores"]["off_topic"] is not None


@pytest.mark.parametrize(
    ("comment", "field"),
    [
        ({"text": "x", "article_id": "missing"}, "comments[0].article_id"),
        ({"text": "x", "parent_id": "missing"}, "comments[0].parent_id"),
    ],
)
def test_unknown_ids_are_422_naming_the_field(client, comment, field):
    response = client.post("/v1/score", json={"comments": [comment]})
    assert response.status_code == 422 and response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"comments": [{"text": "   "}]}, 422, "comments[0]"),
        ({"comments": [{"text": 3}]}, 422, "comments[0].text"),
        ({"comments": "hello"}, 422, "comments"),
        ({"comments": [{"text": "x", "article": {"title": "t"}, "article_id": "a"}]}, 422,
         "article_id"),
        ({"comments": [{"text": "x", "colour": "red"}]}, 422, "comments[0].colour"),
        ({"comments": [{"text": "x"}], "attributes": ["toxicity"]}, 422, "attributes[0]"),
        ({"comments": [{"text": "é" * 10_241}]}, 413, "comments[0].text"),
    ],
)
def test_bad_input_names_the_field(client, body, status, fragment):
    response = client.post("/v1/score", json=body)
    assert response.status_code == status
    payload = response.json()
    assert fragment in payload.get("message", payload["detail"])


def test_invalid_utf8_is_400(client):
    response = client.post("/v1/score", content=b'{"comments": [{"text": "\xff\xfe"}]}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400 and "UTF-8" in response.json()["detail"]


def test_body_over_the_limit_is_413_before_parsing(app_client):
    client, keys = app_client(max_body_bytes=1000)
    response = client.post("/v1/score", json={"comments": [{"text": "x" * 2000}]},
                           headers={"Authorization": f"Bearer {keys['scorer']}"})
    assert response.status_code == 413 and "body" in response.json()["detail"]


def test_attributes_restrict_the_answer(client):
    response = client.post("/v1/score", json={"comments": [{"text": "x"}],
                                              "attributes": ["personal_attack"]})
    assert list(response.json()["results"][0]["scores"]) == ["personal_attack"]


def test_store_false_keeps_nothing(client):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from service.db import ScoredComment

    client.post("/v1/score", json={"comments": [{"id": "s", "text": "secret"}], "store": False})
    with Session(client.app.state.engine) as session:
        assert session.scalar(select(func.count()).select_from(ScoredComment)) == 0


def test_slow_scoring_times_out_with_504(app_client):
    import time

    client, keys = app_client(score_timeout_s=0.05)
    scorer = client.app.state.batcher.scorer
    original = scorer.score
    scorer.score = lambda *a, **k: (time.sleep(0.3), original(*a, **k))[1]
    try:
        response = client.post("/v1/score", json={"comments": [{"text": "x"}]},
                               headers={"Authorization": f"Bearer {keys['scorer']}"})
    finally:
        scorer.score = original
    assert response.status_code == 504 and "longer than" in response.json()["detail"]


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-5), ("int8", 0.05)])
def test_the_service_scores_with_the_runtime_form_like_the_reference(app_client, precision,
                                                                    tolerance):
    """CIVILITY_RUNTIME_PRECISION (``runtime_precision``) picks the form: fp32 gives PyTorch's
    scores, int8 (the default) close ones."""
    body = {"comments": [{"text": "you idiot"}, {"text": "fair point", "parent": "taxes"}]}
    answers = {}
    for backend in ("torch", "onnx"):
        client, keys = app_client(backend=backend, runtime_precision=precision)
        ready = client.get("/readyz").json()
        assert ready["backend"] == ("OnnxScorer" if backend == "onnx" else "Scorer")
        assert ready["precision"] == (precision if backend == "onnx" else "fp32")
        response = client.post("/v1/score", json=body,
                               headers={"Authorization": f"Bearer {keys['scorer']}"})
        answers[backend] = response.json()["results"]
    assert f"-{precision}-" in client.app.state.scorer.runtime_dir.name
    for torch_result, onnx_result in zip(answers["torch"], answers["onnx"], strict=True):
        for name, value in torch_result["scores"].items():
            assert onnx_result["scores"][name] == pytest.approx(value, abs=tolerance), name
