"""Dependencies shared by the routers: settings, database session, scorer, micro-batcher, and
the caller's key (authenticated, authorised for a role, rate limited)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from service.auth import DEVELOPMENT, Principal, authenticate
from service.batcher import MicroBatcher
from service.perspective import PerspectiveError
from service.settings import Settings

# Dependencies that only read app state are ``async def``: FastAPI runs a plain ``def``
# dependency on a worker thread, a hop per dependency per request on the event loop's time.


async def app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app``)."""
    return request.app.state.settings


async def get_scorer(request: Request):
    return request.app.state.scorer


async def get_batcher(request: Request) -> MicroBatcher:
    return request.app.state.batcher


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ScorerDep = Annotated[object, Depends(get_scorer)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]


class AuthProblem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _presented_key(request: Request, *, allow_query: bool) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"].strip()
    if allow_query:
        return request.query_params.get("key") or None
    return None


def identify(request: Request, session: Session, settings: Settings, *, role: str,
             allow_query: bool) -> Principal:
    """The caller, checked for ``role`` and its rate limit; raises ``AuthProblem``."""
    if not settings.require_keys:
        principal = DEVELOPMENT
    else:
        key = _presented_key(request, allow_query=allow_query)
        if key is None:
            where = "Authorization: Bearer KEY or X-API-Key: KEY"
            where += " (or ?key=KEY)" if allow_query else ""
            raise AuthProblem(401, f"missing API key: send {where}",
                              {"WWW-Authenticate": "Bearer"})
        principal = authenticate(session, key)
        if principal is None:
            raise AuthProblem(401, "API key not valid (unknown or revoked)",
                              {"WWW-Authenticate": "Bearer"})
    if not principal.can(role):
        raise AuthProblem(403, f"this key's role '{principal.role}' may not do this "
                               f"(needs '{role}' or higher)")
    request.state.key_name = principal.name
    wait = request.app.state.rate_limiter.acquire(principal.key_id)
    if wait > 0:
        raise AuthProblem(429, "rate limit exceeded for this key; retry later",
                          {"Retry-After": request.app.state.rate_limiter.retry_after(wait)})
    return principal


def require(role: str) -> Callable[..., Principal]:
    """A dependency: the caller's principal, which must have at least ``role`` (native API)."""

    def dependency(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
        try:
            return identify(request, session, settings, role=role, allow_query=False)
        except AuthProblem as problem:
            raise HTTPException(problem.status, problem.message, problem.headers) from None

    return dependency


def require_perspective(request: Request, session: SessionDep,
                        settings: SettingsDep) -> Principal:
    """The caller of a Perspective endpoint (key also as ``?key=``), errors in Google's format."""
    try:
        return identify(request, session, settings, role="scorer", allow_query=True)
    except AuthProblem as problem:
        raise PerspectiveError(
            problem.status if problem.status != 401 else 403,
            "The request is missing a valid API key." if problem.status == 401
            else problem.message,
            "API_KEY_INVALID" if problem.status == 401 else None,
            headers=problem.headers,
        ) from None


ScorerKey = Annotated[Principal, Depends(require("scorer"))]
ModeratorKey = Annotated[Principal, Depends(require("moderator"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
PerspectiveKey = Annotated[Principal, Depends(require_perspective)]
