"""Request ids, structured JSON logs, Prometheus metrics, and the request body size limit."""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
log = logging.getLogger("civility.access")

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "civility_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "civility_request_seconds", "HTTP request latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "civility_model_batch_size", "comments per model call (after micro-batching)",
            buckets=BATCH_BUCKETS, registry=self.registry,
        )
        self.model_seconds = Histogram(
            "civility_model_seconds", "time per model call", buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scores = Histogram(
            "civility_score", "calibrated scores returned", ["attribute"],
            buckets=SCORE_BUCKETS, registry=self.registry,
        )
        self.flags = Counter(
            "civility_flags", "flags raised", ["attribute"], registry=self.registry
        )

    def observe_results(self, results) -> None:
        for result in results:
            for name, value in result.scores.items():
                if value is not None:
                    self.scores.labels(name).observe(value)
            for name in result.flags:
                self.flags.labels(name).inc()


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, json_logs: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger("civility")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RequestContext:
    """ASGI middleware: request id (``X-Request-ID`` in and out), access log, metrics, and a cap
    on the body size (buffered up to ``max_body_bytes``, answered 413 beyond it)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            body = await self._read_body(receive)
            if body is None:
                await _send_json(send_with_id, 413, {
                    "detail": f"body: over the limit of {self.max_body_bytes} bytes",
                    "error": {"code": 413, "status": "FAILED_PRECONDITION",
                              "message": f"body: over the limit of {self.max_body_bytes} bytes"},
                })
                return
            await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(path).observe(elapsed)
            log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"fields": {"method": scope["method"], "path": scope["path"],
                                  "status": status, "ms": round(elapsed * 1000, 2),
                                  "key": scope.get("state", {}).get("key_name")}},
            )
            request_id_var.reset(token)

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body first, then the real channel (so disconnects still arrive)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, content: dict) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
