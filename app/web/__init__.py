"""The upload page: ``GET /`` plus its one script and one stylesheet (no build step).

Only these three files are served (no directory is exposed). Everything the page does goes
through the public API; the strict CSP from app.middleware applies to it unchanged.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parent
# Revalidated on every load (the ETag makes that cheap): a deploy is seen at once.
_HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/app.js")
async def script() -> FileResponse:
    return FileResponse(WEB_DIR / "app.js", media_type="text/javascript", headers=_HEADERS)


@router.get("/app.css")
async def stylesheet() -> FileResponse:
    return FileResponse(WEB_DIR / "app.css", media_type="text/css", headers=_HEADERS)
