"""Closed-network HTTP hygiene, installed on the app in one call.

- Security headers on every HTTP answer (CSP, X-Frame-Options, nosniff,
  Referrer-Policy): the dashboard and docs run with scripts from the hub only.
- X-Forwarded-For / -Proto believed only from `trusted_proxies` (default:
  nobody), in the app itself, so every server (and the tests) behave alike;
  `branchlive hub` runs uvicorn with its own proxy handling off.
- `/openapi.json`, `/docs`, `/redoc` behind sign-in, Swagger UI and ReDoc
  served from the installed `fastapi-offline` package (no CDN).
- `/metrics` for a scraper with `metrics_token`, or a signed-in county admin.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from hub.auth.deps import CurrentOperator, get_operator
from hub.config import Settings
from hub.errors import Unauthorized

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
DOCS_ASSETS = "/docs-assets"


class SecurityHeaders:
    """Pure ASGI (no BaseHTTPMiddleware): streams and sockets pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _assets_dir() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    static = Path(fastapi_offline.__file__).parent / "static"
    return static if static.is_dir() else None


_SWAGGER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title} - API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>"""
_SWAGGER_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  layout: "BaseLayout", deepLinking: true, withCredentials: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]});"""
_REDOC_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title} - API</title></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="{assets}/redoc.standalone.js"></script></body></html>"""


def install_http_security(app: FastAPI, settings: Settings) -> None:
    """Call once, after every router is included. The app must be built
    with docs_url=None, redoc_url=None, openapi_url=None."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(op: CurrentOperator) -> JSONResponse:
        return JSONResponse(app.openapi())

    assets = _assets_dir()
    if settings.api_docs and assets is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        def docs(op: CurrentOperator) -> HTMLResponse:
            return HTMLResponse(_SWAGGER_PAGE.format(title=app.title, assets=DOCS_ASSETS))

        @app.get("/docs/init.js", include_in_schema=False)
        def docs_init(op: CurrentOperator) -> Response:
            return Response(_SWAGGER_INIT, media_type="text/javascript")

        @app.get("/redoc", include_in_schema=False)
        def redoc(op: CurrentOperator) -> HTMLResponse:
            return HTMLResponse(_REDOC_PAGE.format(title=app.title, assets=DOCS_ASSETS))

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        _metrics_allowed(request, settings)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))


def _metrics_allowed(request: Request, settings: Settings) -> None:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if settings.metrics_token and token and secrets.compare_digest(token, settings.metrics_token):
        return
    try:
        op = get_operator(request)
    except Unauthorized:
        raise Unauthorized("Send the scrape token (metrics_token) as 'Authorization: Bearer <token>', "
                           "or sign in as a county administrator.") from None
    op.require_admin()


def uvicorn_proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn must not apply its own default (trust 127.0.0.1): the app
    does it, from `trusted_proxies` only."""
    return {"proxy_headers": False, "forwarded_allow_ips": ",".join(settings.trusted_proxies) or None}
