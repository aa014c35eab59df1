"""Hub-wide bounds on what a request may carry, applied once to the whole
app so no route can forget them:

- every integer path or query parameter fits the database's INTEGER column
  (32-bit on PostgreSQL; SQLite overflows past 2^63), and `limit`/`offset`
  are not negative: a clean 422 naming the parameter instead of a 500;
- a multipart upload is cut off at `max_bytes` while it streams in (413),
  before Starlette has spooled it all to disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import annotated_types
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DB_INT_MAX = 2**31 - 1
DB_INT_MIN = -(2**31)
NON_NEGATIVE = {"limit", "offset"}


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    args: tuple[Any, ...] = getattr(annotation, "__args__", None) or ()
    return int in args and all(a in (int, type(None)) for a in args)


def _bound(field: Any) -> None:
    info = field.field_info
    if not _is_int(info.annotation):
        return
    kinds = {type(m) for m in info.metadata}
    added: list[annotated_types.BaseMetadata] = []
    if not kinds & {annotated_types.Ge, annotated_types.Gt}:
        added.append(annotated_types.Ge(0 if field.name in NON_NEGATIVE else DB_INT_MIN))
    if not kinds & {annotated_types.Le, annotated_types.Lt}:
        added.append(annotated_types.Le(DB_INT_MAX))
    if added:
        info.metadata = [*info.metadata, *added]
        field.__post_init__()  # rebuild its validator with the new bounds


def _walk(dependant: Any) -> None:
    for field in (*dependant.path_params, *dependant.query_params):
        _bound(field)
    for sub in dependant.dependencies:
        _walk(sub)


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    endpoint: Any
    dependant: Any


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every HTTP API route as it is served, with the dependant that parses
    its parameters (FastAPI >= 0.160 serves included routers through
    per-inclusion contexts with dependants of their own)."""
    out = []
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:
        candidates: list[Any] = [r for r in app.router.routes if isinstance(r, APIRoute)]
    else:
        candidates = [getattr(c, "_effective_route", c) for c in iter_contexts(app.router.routes)]
    for r in candidates:
        dependant, endpoint = getattr(r, "dependant", None), getattr(r, "endpoint", None)
        if dependant is not None and endpoint is not None and getattr(r, "methods", None):
            out.append(RouteInfo(str(r.path), frozenset(r.methods), endpoint, dependant))
    return out


def bound_parameters(app: FastAPI) -> None:
    """Give every integer path/query parameter of every route the database's
    range (the OpenAPI document shows it as minimum/maximum)."""
    for route in api_routes(app):
        _walk(route.dependant)
    app.openapi_schema = None


class UploadLimit:
    """ASGI middleware: a multipart/form-data body larger than `max_bytes` is
    refused with 413, by its Content-Length up front or while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not headers.get("content-type", "").lower().startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen, over, answered, started = 0, False, False, False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def watch(message: Message) -> None:
            # Once over the limit, whatever the app answers (FastAPI turns a
            # failed body read into a 400) is replaced by the 413.
            nonlocal answered, started
            if answered:
                return
            if over and not started:
                answered = True
                await self._too_large(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except _TooLarge:
            pass
        if over and not (answered or started):
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        mib = self.max_bytes // (1024 * 1024)
        body = json.dumps({
            "type": "about:blank#too_large", "title": "Upload too large", "status": 413, "code": "too_large",
            "detail": f"上传文件过大 The upload is larger than {mib} MiB; send a smaller file or split it."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
