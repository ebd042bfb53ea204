"""The real thing: ``civility keys create`` and ``civility serve`` as processes on a free port."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CIVILITY = [sys.executable, "-m", "service.cli"]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("serve")
    database = f"sqlite:///{workdir}/civility.db"
    env = os.environ | {"CIVILITY_LOG_JSON": "true", "PYTHONPATH": str(ROOT)}
    created = subprocess.run([*CIVILITY, "keys", "create", "--role", "scorer", "--database",
                              database], capture_output=True, text=True, env=env, cwd=workdir,
                             timeout=120)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    port = free_port()
    log = (workdir / "serve.log").open("w")
    process = subprocess.Popen([*CIVILITY, "serve", "--port", str(port), "--model",
                                str(tiny_model), "--database", database],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
        assert process.poll() is None, (workdir / "serve.log").read_text()
    yield url, key, workdir / "serve.log"
    process.terminate()
    process.wait(timeout=30)
    log.close()


def test_served_process_uses_the_runtime_form(server):
    url, _, _ = server
    assert httpx.get(f"{url}/readyz").json()["backend"] == "OnnxScorer"


def test_keys_create_prints_the_key_alone_on_the_last_line(server):
    _, key, _ = server
    assert key.startswith("civ_") and " " not in key


def test_served_process_scores_with_a_key_and_refuses_without(server):
    url, key, _ = server
    body = {"comments": [{"id": "1", "text": "You are an idiot."}]}
    assert httpx.post(f"{url}/v1/score", json=body).status_code == 401
    response = httpx.post(f"{url}/v1/score", json=body,
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == "1"
    analyzed = httpx.post(f"{url}/v1alpha1/comments:analyze?key={key}", json={
        "comment": {"text": "You are an idiot."}, "requestedAttributes": {"TOXICITY": {}}})
    assert analyzed.status_code == 200 and "TOXICITY" in analyzed.json()["attributeScores"]


def test_served_process_writes_json_logs_with_request_ids(server):
    url, _, log = server
    httpx.get(f"{url}/healthz", headers={"X-Request-ID": "trace-me"})
    time.sleep(0.3)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e.get("request_id") == "trace-me" and e.get("status") == 200 for e in lines)


def test_keys_create_refuses_an_unknown_role(tmp_path):
    result = subprocess.run([*CIVILITY, "keys", "create", "--role", "king", "--database",
                             f"sqlite:///{tmp_path}/k.db"], capture_output=True, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 2 and "king" in result.stderr


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_served_process_caps_glibc_malloc_arenas(server):
    _, _, log = server
    assert "malloc arenas capped at 2" in log.read_text()


def test_serve_refuses_a_missing_model_with_exit_2(tmp_path):
    result = subprocess.run([*CIVILITY, "serve", "--model", str(tmp_path / "none"), "--database",
                             f"sqlite:///{tmp_path}/x.db"], capture_output=True, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
