"""Perspective compatibility: Coral-shaped requests, Google-format errors, keys as ?key=."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import ScoredComment, ScoreFeedback
from service.perspective import PERSPECTIVE_TO_CIVILITY, utf16_offsets

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "perspective"
ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def coral(app_client):
    """A client that authenticates the way Coral does: ``?key=`` on the URL."""
    client, keys = app_client()
    return client, keys["scorer"]


def stored(client, table):
    with Session(client.app.state.engine) as session:
        return session.scalars(select(table)).all()


def shape(value):
    """The structure of a JSON value: keys and types, not the numbers."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def test_coral_analyze_gets_the_response_shape_coral_reads(coral):
    client, key = coral
    response = client.post(f"{ANALYZE}?key={key}", json=fixture("coral_analyze_request.json"))
    assert response.status_code == 200
    body = response.json()
    assert shape(body) == shape(fixture("coral_analyze_response_shape.json"))
    assert 0.0 <= body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] <= 1.0


def test_coral_round_trip_stores_the_decision_as_feedback(coral):
    client, key = coral
    analyzed = client.post(f"{ANALYZE}?key={key}", json=fixture("coral_analyze_request.json"))
    assert analyzed.status_code == 200
    request = fixture("coral_suggestscore_request.json")
    response = client.post(f"{SUGGEST}?key={key}", json=request)
    assert response.status_code == 200
    assert response.json() == {"clientToken": request["clientToken"]}
    [feedback] = stored(client, ScoreFeedback)
    assert (feedback.attribute, feedback.value, feedback.community_id) == (
        "incivility", 1.0, "Coral:news.example.com")
    assert feedback.text == request["comment"]["text"]


def test_severe_toxicity_is_answered_for_coral_sites_that_chose_it(coral):
    client, key = coral
    request = fixture("coral_analyze_request.json") | {
        "requestedAttributes": {"SEVERE_TOXICITY": {}}}
    response = client.post(f"{ANALYZE}?key={key}", json=request)
    assert set(response.json()["attributeScores"]) == {"SEVERE_TOXICITY"}


def test_analyze_with_context_scores_off_topic_and_echoes_the_client_token(coral):
    client, key = coral
    response = client.post(ANALYZE, json=fixture("analyze_with_context_request.json"),
                           headers={"X-API-Key": key})
    body = response.json()
    assert response.status_code == 200
    assert set(body["attributeScores"]) == {"OFF_TOPIC", "ATTACK_ON_COMMENTER", "INSULT"}
    assert body["clientToken"] == "req-7"
    [row] = stored(client, ScoredComment)
    assert row.community_id == "Coral:news.example.com" and row.source == "perspective"


def test_score_threshold_omits_lower_scores(coral):
    client, key = coral
    request = {"comment": {"text": "you are wrong"},
               "requestedAttributes": {"TOXICITY": {"scoreThreshold": 1.0}, "INSULT": {}}}
    body = client.post(f"{ANALYZE}?key={key}", json=request).json()
    assert "TOXICITY" not in body["attributeScores"]
    assert "INSULT" in body["attributeScores"]


def test_span_annotations_use_utf16_offsets_end_exclusive(coral):
    client, key = coral
    text = "\U0001f621 you idiot"  # the emoji is two UTF-16 code units
    request = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}},
               "spanAnnotations": True}
    body = client.post(f"{ANALYZE}?key={key}", json=request).json()
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    assert spans[0]["begin"] == 0 and spans[0]["end"] == len(text) + 1
    assert all(0 <= s["begin"] < s["end"] <= len(text) + 1 for s in spans)


def test_utf16_offsets_count_astral_characters_twice():
    assert utf16_offsets("a\U0001f600b") == [0, 1, 3, 4]


def test_do_not_store_keeps_nothing(coral):
    client, key = coral
    request = fixture("coral_analyze_request.json") | {"doNotStore": True}
    assert client.post(f"{ANALYZE}?key={key}", json=request).status_code == 200
    assert stored(client, ScoredComment) == []


def test_non_english_request_gets_perspectives_language_error(coral):
    client, key = coral
    request = {"comment": {"text": "hello"}, "languages": ["de"],
               "requestedAttributes": {"TOXICITY": {}}}
    response = client.post(f"{ANALYZE}?key={key}", json=request)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert "TOXICITY" in error["message"]


def test_detected_non_english_text_is_dropped_when_asked(coral):
    client, key = coral
    request = {"comment": {"text": "Das ist doch nicht die Wahrheit, und ich glaube es nicht"},
               "requestedAttributes": {"TOXICITY": {}}, "dropUnsupportedAttributes": True}
    body = client.post(f"{ANALYZE}?key={key}", json=request).json()
    assert body["attributeScores"] == {} and body["languages"] == ["de"]


@pytest.mark.parametrize(
    ("request_body", "fragment", "error_type"),
    [
        ({"comment": {"text": "  "}, "requestedAttributes": {"TOXICITY": {}}},
         "comment.text", "COMMENT_EMPTY"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {}},
         "requestedAttributes", "NO_REQUESTED_ATTRIBUTES"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"SPAM": {}}},
         "SPAM", "ATTRIBUTE_NOT_SUPPORTED"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"OFF_TOPIC": {}}},
         "OFF_TOPIC", "CONTEXT_REQUIRED"),
        ({"comment": {"text": "x" * 20_481}, "requestedAttributes": {"TOXICITY": {}}},
         "comment.text", "COMMENT_TOO_LONG"),
    ],
)
def test_analyze_rejects_bad_requests_in_googles_format(coral, request_body, fragment,
                                                        error_type):
    client, key = coral
    response = client.post(f"{ANALYZE}?key={key}", json=request_body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert fragment in error["message"]
    assert error["details"][0]["errorType"] == error_type


def test_unsupported_attributes_are_dropped_when_asked(coral):
    client, key = coral
    request = {"comment": {"text": "hi"}, "dropUnsupportedAttributes": True,
               "requestedAttributes": {"SPAM": {}, "TOXICITY": {}}}
    body = client.post(f"{ANALYZE}?key={key}", json=request).json()
    assert set(body["attributeScores"]) == {"TOXICITY"}


def test_wrong_types_are_400_naming_the_field(coral):
    client, key = coral
    response = client.post(f"{ANALYZE}?key={key}",
                           json={"comment": {"text": 5}, "requestedAttributes": {"TOXICITY": {}}})
    assert response.status_code == 400
    assert "comment.text" in response.json()["error"]["message"]


def test_missing_or_bad_key_is_answered_like_google(coral):
    client, _ = coral
    request = fixture("coral_analyze_request.json")
    for url in (ANALYZE, f"{ANALYZE}?key=civ_not-a-key"):
        response = client.post(url, json=request)
        assert response.status_code == 403
        assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_suggestscore_rejects_out_of_range_scores(coral):
    client, key = coral
    request = fixture("coral_suggestscore_request.json")
    request["attributeScores"]["TOXICITY"]["summaryScore"]["value"] = 2
    response = client.post(f"{SUGGEST}?key={key}", json=request)
    assert response.status_code == 400
    assert "summaryScore.value" in response.json()["error"]["message"]
    assert stored(client, ScoreFeedback) == []


def test_every_mapped_attribute_is_a_civility_attribute():
    from model.attributes import NAMES

    assert set(PERSPECTIVE_TO_CIVILITY.values()) <= set(NAMES)
    assert PERSPECTIVE_TO_CIVILITY["TOXICITY"] == "incivility"
    assert PERSPECTIVE_TO_CIVILITY["ATTACK_ON_AUTHOR"] == "personal_attack"
    assert PERSPECTIVE_TO_CIVILITY["ATTACK_ON_COMMENTER"] == "personal_attack"
