"""Wiring of the moderation queue into the app: its routes and UI, its 409 answers, the rules,
and the task that scores comments left unscored (a crash between ingestion and scoring, a
scoring timeout): at start-up and then every ``rescore_interval_s``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from service import queue
from service.routes import moderate
from service.routes import queue as queue_routes
from service.rules import RulesError, load_rules
from service.settings import Settings

log = logging.getLogger("civility.queue")


def install_queue(app: FastAPI) -> None:
    """Add the queue API, the moderator UI and the conflict handler to ``app``."""
    app.include_router(queue_routes.router)
    app.include_router(moderate.router)

    @app.exception_handler(queue.QueueConflict)
    async def conflict(request: Request, error: queue.QueueConflict) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)


async def start_queue(app: FastAPI, settings: Settings) -> None:
    """Load the rules (a bad rules file stops the start with the reason) and start re-scoring."""
    try:
        app.state.rules = load_rules(settings.rules_file)
    except RulesError as error:
        raise RuntimeError(f"cannot start: {error}") from None
    app.state.rescoring = asyncio.create_task(
        rescore_forever(app, settings.rescore_interval_s), name="civility-rescoring")


async def stop_queue(app: FastAPI) -> None:
    task = getattr(app.state, "rescoring", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def rescore_unscored(app: FastAPI, *, chunk: int = 64) -> int:
    """Score every comment whose scores were never stored; the number scored."""
    done = 0
    with Session(app.state.engine) as session:
        while rows := await asyncio.to_thread(queue.unscored, session, chunk):
            comments = await asyncio.to_thread(queue.scoring_inputs, session, rows)
            results = await app.state.batcher.score(comments, spans=True)
            await asyncio.to_thread(queue.store_scores, session, [r.id for r in rows], results,
                                    app.state.rules)
            done += len(rows)
    return done


async def rescore_forever(app: FastAPI, interval_s: float) -> None:
    while True:
        try:
            if done := await rescore_unscored(app):
                log.info("scored %d comments that were waiting for scores", done)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database or model failed: try again next round
            log.exception("re-scoring failed; retrying in %.0f s", interval_s)
        await asyncio.sleep(interval_s)
