"""The HTTP service: the FastAPI app (model loaded once in ``lifespan``) and ``serve``."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from model.artifact import ArtifactError, check_directory
from service import errors
from service.auth import RateLimiter
from service.batcher import MicroBatcher
from service.db import make_engine
from service.moderation import install_queue, start_queue, stop_queue
from service.observability import Metrics, RequestContext, configure_logging
from service.routes import keys, ops, perspective, scoring
from service.settings import Settings, get_settings

log = logging.getLogger("civility.app")
M_ARENA_MAX = -8  # glibc's <malloc.h>

DESCRIPTION = """Scores reader comments for incivility, personal attacks (who is attacked) and
off-topic drift relative to the article and the parent comment, with calibrated scores, flags
and spans. Every endpoint but the health checks needs an API key (`Authorization: Bearer KEY`
or `X-API-Key: KEY`; the Perspective endpoints also take `?key=KEY`)."""


def load_model(settings: Settings):
    """The scorer for the configured artifact: its runtime form (ONNX Runtime, no PyTorch
    import) when built, else the PyTorch reference (see ``model.loading``)."""
    from model.loading import load_scorer

    return load_scorer(settings.model_dir, backend=settings.backend,
                       precision=settings.runtime_precision)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            app.state.scorer = load_model(settings)
        except ArtifactError as error:
            raise RuntimeError(f"cannot start: {error}") from None
        app.state.engine = make_engine(settings.database_url)
        app.state.metrics = metrics
        app.state.rate_limiter = RateLimiter(per_minute=settings.rate_limit_per_minute,
                                             burst=settings.rate_limit_burst)
        app.state.batcher = MicroBatcher(
            app.state.scorer, max_wait_ms=settings.batch_wait_ms,
            max_items=settings.micro_batch_max, batch_size=settings.batch_size, metrics=metrics,
        )
        await app.state.batcher.start()
        await start_queue(app, settings)
        if not settings.require_keys:
            log.warning("DEVELOPMENT MODE: API keys are not required (CIVILITY_REQUIRE_KEYS="
                        "false); every caller is admin. Never expose this service like this.")
        log.info("serving %s from %s with %s", app.state.scorer.config.tag, settings.model_dir,
                 type(app.state.scorer).__name__)
        yield
        await stop_queue(app)
        await app.state.batcher.stop()
        app.state.engine.dispose()

    app = FastAPI(title="Civility", version="0.2.0", lifespan=lifespan, description=DESCRIPTION)
    # read by service.deps.app_settings (not app.dependency_overrides: with any override set,
    # FastAPI re-inspects every dependency's signature on every request)
    app.state.settings = settings
    app.add_middleware(RequestContext, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    errors.install(app)
    for module in (ops, scoring, perspective, keys):
        app.include_router(module.router)
    install_queue(app)
    return app


def serve(*, host: str, port: int, model: str | None, database: str | None) -> None:
    """Run the service with uvicorn (``civility serve``)."""
    import uvicorn

    overrides = {k: v for k, v in (("model_dir", model), ("database_url", database)) if v}
    settings = Settings(**overrides)
    check_directory(Path(settings.model_dir))  # fail before binding the port, with the reason
    configure_logging(json_logs=settings.log_json)
    if limit_malloc_arenas(settings.malloc_arenas):
        log.info("malloc arenas capped at %d (CIVILITY_MALLOC_ARENAS)", settings.malloc_arenas)
    if settings.require_keys:
        _first_start_key(settings)
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False,
                log_config=None)


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (``mallopt(M_ARENA_MAX)``, what the
    ``MALLOC_ARENA_MAX`` environment variable sets) before the server starts its threads; 0 or
    a C library other than glibc leaves malloc as it is. Returns whether the cap was set.

    glibc gives threads that allocate at the same time arenas of their own, up to 8 per core,
    and an arena keeps the memory freed into it. The server's threads (event loop, model
    thread, ONNX Runtime's pool, the storing threads) all allocate: measured over the HTTP load
    with article and parent, 2 arenas ended the server at 286 MB against 300 MB with glibc's
    default, at the same requests/s (benchmarks/RESULTS.md, section 3)."""
    if arenas <= 0:
        return False
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # no C library, or one without mallopt
        return False
    return mallopt(M_ARENA_MAX, arenas) == 1  # mallopt returns 1 on success


def _first_start_key(settings: Settings) -> None:
    """On a database with no keys yet, create an admin key and print it once, so a fresh
    install is usable without another step (it is stored hashed, like every key)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from service.auth import create_key
    from service.db import ApiKey

    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        if session.scalar(select(func.count()).select_from(ApiKey)) == 0:
            _, key = create_key(session, role="admin", name="first-start admin")
            print(f"First start: created an admin API key (shown only this once; create more "
                  f"with `civility keys create --role scorer`):\n  {key}", flush=True)
    engine.dispose()
