"""One error hierarchy for the hub. Views raise these; the app maps them to
RFC 9457 problem details (`application/problem+json`). Every `detail` tells
the reader what to do next."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.db import ValueOutOfRange

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

    # Nets under the views' own checks: a value the database cannot hold is
    # the caller's mistake (422), a clash with stored data a conflict (409),
    # a database that is busy or away a 503 to retry, never a 500.
    @app.exception_handler(ValueOutOfRange)
    async def _out_of_range(_request: Request, exc: ValueOutOfRange) -> JSONResponse:
        return problem(422, "Invalid input", f"Correct this field and send again: {exc.field}: {exc.detail}", "invalid",
                       errors=[{"loc": exc.field.split("."), "msg": exc.detail}])

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        return problem(422, "Invalid input", "A number in the request is too large for the database; correct it and send again.",
                       "invalid")

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        return problem(422, "Invalid input", f"The database refused a value: {_first_line(exc)}. Correct it and send again.",
                       "invalid")

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "Conflict", f"This clashes with stored data ({_first_line(exc)}); reload and try again.", "conflict")

    @app.exception_handler(OperationalError)
    async def _unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
        busy = "locked" in _first_line(exc) or "busy" in _first_line(exc)
        detail = ("数据库繁忙 The database is busy; try again in a few seconds." if busy else
                  "数据库暂不可用 The database cannot be reached; try again shortly, and tell the county's IT staff if it lasts.")
        response = problem(503, "Database unavailable", detail, "db_busy" if busy else "db_unavailable")
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such address on this hub; check the URL (the API lives under /api/v1)."
        return problem(exc.status_code, detail, detail, f"http_{exc.status_code}")


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
