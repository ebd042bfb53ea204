"""The app on the tiny model and a temporary SQLite file, with one key per role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.app import create_app
from service.auth import ROLES, create_key
from service.settings import Settings


def make_settings(tiny_model, tmp_path, **overrides) -> Settings:
    values = {"model_dir": tiny_model, "database_url": f"sqlite:///{tmp_path}/test.db",
              "max_batch": 4, "log_json": False} | overrides
    return Settings(**values)


def issue_keys(app) -> dict[str, str]:
    with Session(app.state.engine) as session:
        return {role: create_key(session, role=role)[1] for role in ROLES}


@pytest.fixture
def app_client(tiny_model, tmp_path):
    """A factory: ``app_client(**settings) -> (client, keys)``; closes clients at teardown."""
    clients = []

    def make(**overrides):
        client = TestClient(create_app(make_settings(tiny_model, tmp_path, **overrides)))
        client.__enter__()
        clients.append(client)
        return client, issue_keys(client.app)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_client):
    """A client that sends a scorer key on every request."""
    client, keys = app_client()
    client.headers["Authorization"] = f"Bearer {keys['scorer']}"
    client.keys = keys
    return client
