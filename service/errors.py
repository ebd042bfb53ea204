"""Error responses: the native API answers ``{"detail": ..., "message": ...}`` naming the
field; the Perspective endpoints answer in Google's JSON error format."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.perspective import PerspectiveError
from service.scoring import InputProblem

PERSPECTIVE_PREFIX = "/v1alpha1/"


class ScoringTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"scoring took longer than {seconds:g} s; try fewer comments")


def field_path(loc: tuple) -> str:
    """``("body", "comments", 0, "text")`` -> ``comments[0].text``."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_message(error: dict) -> str:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{field_path(tuple(error.get('loc', ())))}: {message}"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = error.errors()
        broken = any(e.get("type") == "json_invalid" for e in errors)
        message = ("body: not valid JSON in UTF-8" if broken
                   else "; ".join(validation_message(e) for e in errors[:5]))
        if request.url.path.startswith(PERSPECTIVE_PREFIX):
            return JSONResponse(PerspectiveError(400, message).body(), status_code=400)
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                  for e in errors]
        return JSONResponse({"detail": detail, "message": message},
                            status_code=400 if broken else 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = error.detail
        if message == "There was an error parsing the body":  # FastAPI's words for bad bytes
            message = "body: not valid JSON in UTF-8"
        if request.url.path.startswith(PERSPECTIVE_PREFIX):
            return JSONResponse(PerspectiveError(error.status_code, str(message)).body(),
                                status_code=error.status_code, headers=error.headers)
        return JSONResponse({"detail": message}, status_code=error.status_code,
                            headers=error.headers)

    @app.exception_handler(InputProblem)
    async def input_problem(request: Request, problem: InputProblem) -> JSONResponse:
        if request.url.path.startswith(PERSPECTIVE_PREFIX):
            return JSONResponse(PerspectiveError(400, str(problem)).body(), status_code=400)
        return JSONResponse({"detail": str(problem), "field": problem.field},
                            status_code=problem.status)

    @app.exception_handler(PerspectiveError)
    async def perspective_error(request: Request, error: PerspectiveError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.code, headers=error.headers)

    @app.exception_handler(ScoringTimeout)
    async def timeout(request: Request, error: ScoringTimeout) -> JSONResponse:
        if request.url.path.startswith(PERSPECTIVE_PREFIX):
            return JSONResponse(PerspectiveError(504, str(error)).body(), status_code=504)
        return JSONResponse({"detail": str(error)}, status_code=504)
