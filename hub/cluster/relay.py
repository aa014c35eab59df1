"""WHEP signalling carried to the node holding the hall, so that a browser
talks only to the node it signed in on.

A WHEP POST (and the PATCH and DELETE of its session URL) that reaches a
node not holding the hall is sent on over HTTP to the holder's
`media_url`, and the holder's answer comes back unchanged except for the
session URL: `Location: /whep/{branch}/{session}?node=<holder>`, on the
browser's own origin, so the DELETE comes back to this node and is carried
again to the node named there (hub/cluster/redirect.py). The SDP answer is
the holder's, with the holder's ICE candidates: the media itself flows
between the browser and the media node, never through this node.

Why carry instead of redirecting (WHIP keeps its 307): after a 307 to
another origin a browser drops the session cookie and the media node would
need CORS; a proxy hop needs neither, and every WHEP client (cookie or
bearer) is carried the same way, so there is one path to test and to
reason about.

Why the holder checks the session itself instead of trusting a header
vouched for by this node (as the hub does for its worker processes with a
shared secret, hub/media/remote.py `viewer_headers`): every node is a full
hub on the same PostgreSQL, so the holder can resolve the operator's
session token exactly as it does for a browser signed in on it (same 401,
403 `password_change_required`, branch-secretary and scope checks, audit
under the real operator, view closed when the session expires). Nodes
share no HTTP secret today (only the database and NATS), and none is
added: a forwarded request can carry nothing the browser did not have, so
a node that misbehaves cannot vouch for anyone. The cookie is sent on as
`Authorization: Bearer <token>` (the hub accepts either, hub/auth/deps.py).

What can grow is bounded: the offer (`media.max_sdp_bytes`, refused with
413 before the holder is asked), the holder's answer, the time a relayed
request may take (RELAY_TIMEOUT, connect CONNECT_TIMEOUT) and the
connections to other nodes (MAX_CONNECTIONS; more wait in httpx's pool,
within the same time bound). Errors are RFC 9457 problems, Chinese first.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

import httpx
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from hub.auth.deps import bearer_or_cookie
from hub.cluster.registry import NodeInfo

RELAYED_BY = "x-branchlive-relayed-by"  # set on a carried request: the holder never carries it again
RELAY_TIMEOUT = 15.0  # the whole exchange with the holder (its offer/answer takes well under a second)
CONNECT_TIMEOUT = 3.0
MAX_CONNECTIONS = 64
# the holder's headers that reach the client; Location is rewritten
PASSED = ("content-type", "retry-after", "www-authenticate", "link", "etag", "accept-patch")


class RelayError(Exception):
    """A problem of the relay itself (not of the holder, whose answers pass through)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def send_problem(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                       "detail": detail}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if status in (502, 503, 504):
        headers.append((b"retry-after", b"5"))
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def session_location(location: str, node_id: str) -> str:
    """The holder's session URL as this node's: its path, plus `?node=`."""
    path = httpx.URL(location).path
    return f"{path}?node={node_id}"


class WhepRelay:
    """Carries WHEP requests from this node to the node holding the hall."""

    def __init__(self, node_id: str, *, max_body: int = 64 * 1024, timeout: float = RELAY_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.node_id = node_id
        self.max_body = max_body
        self.max_answer = 2 * max_body + 16 * 1024  # an answer is about the offer's size; problems are small
        self.timeout = timeout
        self._connect_timeout = connect_timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use: a node that never relays opens nothing
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=self._connect_timeout),
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=8),
                follow_redirects=False, trust_env=False)  # node to node on the county's LAN: no proxy
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def carry(self, scope: Scope, receive: Receive, send: Send, target: NodeInfo) -> None:
        """Send this request on to `target` and its answer back (problems on failure)."""
        try:
            await self._carry(scope, receive, send, target)
        except RelayError as exc:
            await send_problem(send, exc.status, exc.detail)

    async def _carry(self, scope: Scope, receive: Receive, send: Send, target: NodeInfo) -> None:
        request = Request(scope, receive)
        token = bearer_or_cookie(request.headers, request.cookies)
        if not token:
            raise RelayError(401, "请先登录, 再打开直播 sign in first (POST /api/v1/auth/login), then open the "
                                  "live view again")
        body = await self._read_body(request)
        headers = {"authorization": f"Bearer {token}", RELAYED_BY: self.node_id}
        for name in ("content-type", "accept", "user-agent"):
            if name in request.headers:
                headers[name] = request.headers[name]
        client_host = scope["client"][0] if scope.get("client") else None
        if client_host:  # believed by the holder only if this node is among its trusted_proxies
            prior = request.headers.get("x-forwarded-for")
            headers["x-forwarded-for"] = f"{prior}, {client_host}" if prior else client_host
        assert target.media_url is not None
        url = f"{target.media_url.rstrip('/')}{scope['path']}?node={target.node_id}"
        status, out_headers, answer = await self._exchange(scope["method"], url, headers, body, target)
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": answer})

    async def _read_body(self, request: Request) -> bytes:
        too_large = RelayError(413, f"SDP 过大 (超过 {self.max_body} 字节), 请发送更小的 offer the offer is larger "
                                    f"than {self.max_body} bytes; send a smaller one (one video and one audio "
                                    "section, no trickled candidates)")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise too_large
        return bytes(body)

    async def _exchange(self, method: str, url: str, headers: dict[str, str], body: bytes,
                        target: NodeInfo) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        node = target.node_id
        try:
            async with asyncio.timeout(self.timeout):
                request = self._http().build_request(method, url, headers=headers, content=body)
                response = await self._http().send(request, stream=True)
                try:
                    answer = bytearray()
                    async for chunk in response.aiter_bytes():
                        answer += chunk
                        if len(answer) > self.max_answer:
                            raise RelayError(502, f"媒体节点 {node} 的回答过大, 已丢弃; 请查看该节点日志 the answer of "
                                                  f"media node {node} is larger than {self.max_answer} bytes and "
                                                  "was dropped; check that node's log")
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):  # connecting: 502 below
            raise RelayError(504, f"媒体节点 {node} 在 {self.timeout:g} 秒内没有回答, 请稍后重试 media node {node}, "
                                  f"which carries this hall, did not answer within {self.timeout:g} s; retry in a "
                                  "few seconds, and if it keeps happening check that node's load and log") from None
        except httpx.TransportError as exc:
            raise RelayError(502, f"连不上承载该会场的媒体节点 {node}, 请稍后重试 cannot reach media node {node}, "
                                  f"which carries this hall ({type(exc).__name__}: {exc}); retry in a few seconds, "
                                  "and check that node and the network between the hub nodes") from None
        out: list[tuple[bytes, bytes]] = [(b"cache-control", b"no-store"),
                                          (b"content-length", str(len(answer)).encode())]
        for name in PASSED:
            for value in response.headers.get_list(name):
                out.append((name.encode(), value.encode("latin-1")))
        location = response.headers.get("location")
        if location:
            out.append((b"location", session_location(location, node).encode("latin-1")))
        return response.status_code, out, bytes(answer)
