"""Health, readiness, Prometheus metrics, request ids, structured logs, OpenAPI docs."""

from __future__ import annotations

import json
import logging

from service.observability import JsonFormatter, request_id_var


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model": True, "database": True}


def test_readyz_is_503_when_the_database_is_gone(client):
    from sqlalchemy import create_engine

    client.app.state.engine = create_engine("sqlite:////nonexistent-dir/civility.db")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"] is False


def test_metrics_count_requests_batches_and_scores(client):
    client.post("/v1/score", json={"comments": [{"text": "a"}, {"text": "b"}]})
    text = client.get("/metrics").text
    assert 'civility_requests_total{method="POST",route="/v1/score",status="200"} 1.0' in text
    assert "civility_model_batch_size_count 1.0" in text
    assert 'civility_score_count{attribute="incivility"} 2.0' in text
    assert 'civility_request_seconds_bucket{le="0.1",route="/v1/score"}' in text


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc"}).headers["x-request-id"] == "abc"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_json_logs_carry_the_request_id():
    token = request_id_var.set("req-1")
    try:
        record = logging.LogRecord("civility.access", logging.INFO, __file__, 1, "GET %s", ("/x",),
                                   None)
        record.fields = {"status": 200}
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert entry["request_id"] == "req-1" and entry["message"] == "GET /x"
    assert entry["status"] == 200


def test_openapi_documents_every_endpoint_with_examples(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/score", "/v1/threads:score", "/v1/articles", "/v1alpha1/comments:analyze",
                 "/v1alpha1/comments:suggestscore", "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    assert "examples" in json.dumps(spec["components"]["schemas"]["ScoreRequest"])
    assert client.get("/docs").status_code == 200
