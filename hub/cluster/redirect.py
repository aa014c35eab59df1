"""WHIP and WHEP POSTs to the right node: 307 (RFC 9725 section 4.5 allows
it for WHIP; WHEP follows the same rule) to the node rendezvous hashing
gives the hall (WHIP) or to the node holding it live (WHEP).

A plain ASGI middleware in front of the app: only `POST /whip/{branch}` and
`POST /whep/{branch}` are looked at; DELETE goes to the session's own URL
(the Location the media node answered, which the client resolves against
the URL that answered). The redirect adds `?node=<id>`: a node named
there serves the request even if its own view of the cluster is a moment
behind the redirecting node's, so two nodes never bounce a hall between
them.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.cluster.broker import ClusterNode
from hub.cluster.registry import NodeInfo

MEDIA_POST = re.compile(r"^/(whip|whep)/(\d+)/?$")


class MediaRedirect:
    def __init__(self, app: ASGIApp, node: ClusterNode) -> None:
        self.app = app
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = MEDIA_POST.match(scope["path"])
            if match is not None and not self._named_here(scope):
                kind, branch_id = match.group(1), int(match.group(2))
                target = self.node.target(kind, branch_id)
                if target is None or target.node_id != self.node.node_id or not self.node.serves_media:
                    await self._redirect(target, scope["path"], send)
                    return
        await self.app(scope, receive, send)

    def _named_here(self, scope: Scope) -> bool:
        if not self.node.serves_media:
            return False
        named = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("node", [])
        return self.node.node_id in named

    async def _redirect(self, target: NodeInfo | None, path: str, send: Send) -> None:
        if target is None or not target.media_url:
            await self._problem(send, 503, "没有可用的媒体节点, 稍后重试 no media node is alive; retry in a few "
                                           "seconds, and check the media nodes and the NATS server")
            return
        location = f"{target.media_url.rstrip('/')}{path}?node={target.node_id}"
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0"),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _problem(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"type": "about:blank", "title": "Service Unavailable",
                           "status": status, "detail": detail}, ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
        if status == 503:
            headers.append((b"retry-after", b"5"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
