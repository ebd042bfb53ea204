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
              "max_batch": 4, "log_json": False, "backend": "torch"} | overrides
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


# ---- the moderation queue: SQLite and PostgreSQL, and a live server ------------------------
POSTGRES_URL_VARIABLE = "CIVILITY_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server
    ``scripts/test`` starts (skipped outside CI when there is none; a failure under CI)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/queue.db"
        return
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{POSTGRES_URL_VARIABLE} is not set: run the tests with scripts/test")
        pytest.skip(f"no PostgreSQL server ({POSTGRES_URL_VARIABLE} not set; scripts/test "
                    "starts one)")
    name = f"civility_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def moderation(app_client, database_url):
    """A client with a moderator key on a fresh database (both kinds); ``.keys`` per role."""
    client, keys = app_client(database_url=database_url)
    client.headers["Authorization"] = f"Bearer {keys['moderator']}"
    client.keys = keys
    return client


class LiveServer:
    """The app served by uvicorn on a free port in a thread: real HTTP for real concurrency
    and for the browser."""

    def __init__(self, settings) -> None:
        import socket

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_config=None, access_log=False))

    def __enter__(self) -> LiveServer:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        self.keys = issue_keys(self.app)
        with Session(self.app.state.engine) as session:
            self.keys["moderator2"] = create_key(session, role="moderator", name="second")[1]
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server(tiny_model, tmp_path, database_url):
    with LiveServer(make_settings(tiny_model, tmp_path, database_url=database_url,
                                  rate_limit_per_minute=0)) as server:
        yield server
