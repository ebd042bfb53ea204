"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The model is loaded and the database answers."""
    checks = {"model": getattr(request.app.state, "scorer", None) is not None}
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception:  # any driver error means "not ready", never a crash
        checks["database"] = False
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    if checks["model"]:
        body["model"] = request.app.state.scorer.config.tag
        body["backend"] = type(request.app.state.scorer).__name__
        body["precision"] = request.app.state.scorer.precision
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/health", include_in_schema=False)
def health(request: Request) -> dict:
    """Kept for 0.1 clients: liveness and the model version."""
    return {"status": "ok", "model": request.app.state.scorer.config.tag}


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, model batch sizes, scores per attribute."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
