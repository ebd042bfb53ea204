"""API keys, roles and per-key rate limits."""

from __future__ import annotations

from service.auth import RateLimiter, hash_key


def test_every_endpoint_but_health_needs_a_key(app_client):
    client, _ = app_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    for method, path in (("post", "/v1/score"), ("post", "/v1/threads:score"),
                         ("post", "/v1/articles"), ("get", "/v1/articles/x"),
                         ("post", "/v1/keys"), ("get", "/v1/keys")):
        response = client.request(method.upper(), path, json={})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"]


def test_key_is_accepted_as_bearer_or_x_api_key(app_client):
    client, keys = app_client()
    body = {"comments": [{"text": "hello"}]}
    assert client.post("/v1/score", json=body,
                       headers={"Authorization": f"Bearer {keys['scorer']}"}).status_code == 200
    assert client.post("/v1/score", json=body,
                       headers={"X-API-Key": keys["scorer"]}).status_code == 200
    # ?key= is for the Perspective endpoints only
    assert client.post(f"/v1/score?key={keys['scorer']}", json=body).status_code == 401


def test_keys_are_stored_hashed(app_client):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from service.db import ApiKey

    client, keys = app_client()
    with Session(client.app.state.engine) as session:
        stored = {row.key_hash for row in session.scalars(select(ApiKey))}
    assert not set(keys.values()) & stored
    assert {hash_key(k) for k in keys.values()} == stored


def test_a_scorer_key_cannot_manage_keys_but_an_admin_can(app_client):
    client, keys = app_client()
    scorer = {"Authorization": f"Bearer {keys['scorer']}"}
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    denied = client.post("/v1/keys", json={"role": "scorer"}, headers=scorer)
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]
    created = client.post("/v1/keys", json={"role": "moderator", "name": "ana"}, headers=admin)
    assert created.status_code == 201
    new = created.json()
    assert new["role"] == "moderator" and new["key"].startswith("civ_")
    listed = client.get("/v1/keys", headers=admin).json()
    assert all("key" not in k or k["key"] is None for k in listed)
    moderator = {"Authorization": f"Bearer {new['key']}"}
    assert client.post("/v1/score", json={"comments": [{"text": "hi"}]},
                       headers=moderator).status_code == 200  # higher roles may score


def test_bad_role_is_422_naming_the_field(app_client):
    client, keys = app_client()
    response = client.post("/v1/keys", json={"role": "god"},
                           headers={"Authorization": f"Bearer {keys['admin']}"})
    assert response.status_code == 422 and response.json()["detail"].startswith("role")


def test_revoked_key_stops_working_at_once(app_client):
    client, keys = app_client()
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    created = client.post("/v1/keys", json={"role": "scorer"}, headers=admin).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    body = {"comments": [{"text": "hi"}]}
    assert client.post("/v1/score", json=body, headers=headers).status_code == 200
    assert client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 204
    assert client.post("/v1/score", json=body, headers=headers).status_code == 401
    assert client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 404


def test_rate_limit_answers_429_with_retry_after_per_key(app_client):
    client, keys = app_client(rate_limit_per_minute=60, rate_limit_burst=2)
    body = {"comments": [{"text": "hi"}]}
    first = {"Authorization": f"Bearer {keys['scorer']}"}
    codes = [client.post("/v1/score", json=body, headers=first).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.post("/v1/score", json=body, headers=first)
    assert int(limited.headers["retry-after"]) >= 1
    other = {"Authorization": f"Bearer {keys['moderator']}"}  # its own bucket
    assert client.post("/v1/score", json=body, headers=other).status_code == 200


def test_rate_limiter_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=1, clock=lambda: now[0])
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0.0
    now[0] += 1.0
    assert limiter.acquire("k") == 0.0


def test_development_mode_needs_no_key_and_says_so(app_client, caplog):
    with caplog.at_level("WARNING", logger="civility.app"):
        client, _ = app_client(require_keys=False)
    assert client.post("/v1/score", json={"comments": [{"text": "hi"}]}).status_code == 200
    assert "DEVELOPMENT MODE" in caplog.text
