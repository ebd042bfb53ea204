"""The moderator web UI at ``/moderate``: one HTML page, a stylesheet and a small script,
served from ``service/ui/static`` (no build step, nothing from a CDN). The page signs in with a
moderator key, keeps it in sessionStorage and calls the JSON API with it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "ui" / "static"
FILES = {  # what may be served, with its type: nothing else under the folder is reachable
    "moderate.js": "text/javascript; charset=utf-8",
    "moderate.css": "text/css; charset=utf-8",
}
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["moderator UI"], include_in_schema=False)


@router.get("/moderate")
def page() -> FileResponse:
    """The moderator UI."""
    return FileResponse(STATIC / "moderate.html", media_type="text/html; charset=utf-8",
                        headers=NO_CACHE)


@router.get("/moderate/")
def page_slash() -> RedirectResponse:
    return RedirectResponse("/moderate")


@router.get("/moderate/static/{name}")
def static(name: str) -> FileResponse:
    """The UI's script and stylesheet."""
    if name not in FILES:
        raise HTTPException(404, f"no file '{name}'")
    return FileResponse(STATIC / name, media_type=FILES[name], headers=NO_CACHE)
