"""One error hierarchy for the hub. Views raise these; the app maps them to
RFC 9457 problem details (`application/problem+json`). Every `detail` tells
the reader what to do next."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


class HubError(Exception):
    status = 400
    title = "Bad request"
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra


class Unauthorized(HubError):
    status, title, code = 401, "Not signed in", "unauthorized"


class Forbidden(HubError):
    status, title, code = 403, "Not allowed", "forbidden"


class NotFound(HubError):
    status, title, code = 404, "Not found", "not_found"


class Conflict(HubError):
    status, title, code = 409, "Conflict", "conflict"


class Invalid(HubError):
    status, title, code = 422, "Invalid input", "invalid"


class TooManyRequests(HubError):
    status, title, code = 429, "Too many attempts", "rate_limited"


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {"type": f"about:blank#{code}", "title": title, "status": status, "detail": detail, "code": code}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(_request: Request, exc: HubError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, exc.code, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            parts.append(f"{loc or 'request'}: {err.get('msg')}")
        return problem(
            422, "Invalid input", "Correct these fields and send again: " + "; ".join(parts), "invalid",
            errors=[{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such address on this hub; check the URL (the API lives under /api/v1)."
        return problem(exc.status_code, detail, detail, f"http_{exc.status_code}")
