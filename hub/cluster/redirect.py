"""WHIP and WHEP requests to the right node.

WHIP POSTs are answered 307 (RFC 9725 section 4.5 allows it) to the node
rendezvous hashing gives the hall: the hall's agent follows it with its
device token and then talks to that node directly.

WHEP (the operators' live views) is carried instead (hub/cluster/relay.py
says why): a POST for a hall held elsewhere is sent on to the node holding
it live (else its owner), and the session URL it answers names that node
(`/whep/{branch}/{session}?node=<id>`), so the PATCH and DELETE that come
back to this node are carried there too. The browser talks only to the
node it signed in on; the media flows between it and the media node.

A plain ASGI middleware in front of the app: only `POST /whip/{branch}`,
`POST /whep/{branch}` and `PATCH`/`DELETE /whep/{branch}/{session}?node=`
are looked at. `?node=<id>` makes the named node serve the request even if
its own view of the cluster is a moment behind the sending node's, so two
nodes never bounce a hall between them; a request already carried once
(`x-branchlive-relayed-by`) is never carried again.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.cluster.broker import ClusterNode
from hub.cluster.registry import NodeInfo
from hub.cluster.relay import RELAYED_BY, WhepRelay, send_problem

MEDIA_POST = re.compile(r"^/(whip|whep)/(\d+)/?$")
WHEP_SESSION = re.compile(r"^/whep/(\d+)/[^/]+/?$")
NO_MEDIA_NODE = ("没有可用的媒体节点, 稍后重试 no media node is alive; retry in a few seconds, and check the media "
                 "nodes and the NATS server")


class MediaRedirect:
    def __init__(self, app: ASGIApp, node: ClusterNode, relay: WhepRelay | None = None) -> None:
        self.app = app
        self.node = node
        self.relay = relay if relay is not None else WhepRelay(node.node_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST" and (match := MEDIA_POST.match(path)) is not None and not self._named_here(scope):
                kind, branch_id = match.group(1), int(match.group(2))
                target = self.node.target(kind, branch_id)
                if target is None or target.node_id != self.node.node_id or not self.node.serves_media:
                    if kind == "whip":
                        await self._redirect(target, path, send)
                    else:
                        await self._carry(scope, receive, send, target)
                    return
            elif method in ("PATCH", "DELETE") and WHEP_SESSION.match(path):
                named = self._named(scope)
                if named and self.node.node_id not in named:
                    await self._carry(scope, receive, send, self._session_node(named[0]))
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _named(scope: Scope) -> list[str]:
        return parse_qs(scope.get("query_string", b"").decode("latin-1")).get("node", [])

    def _named_here(self, scope: Scope) -> bool:
        return self.node.serves_media and self.node.node_id in self._named(scope)

    def _session_node(self, node_id: str) -> NodeInfo | str:
        """The node a WHEP session URL names, or why it cannot be reached."""
        info = self.node.registry.nodes.get(node_id)
        if info is None or not info.serves_media:
            return (f"该直播所在的媒体节点 {node_id} 已不在, 直播随之结束; 请重新打开直播 media node {node_id}, "
                    "which carried this live view, is gone and the view with it; open the live view again")
        return info

    async def _carry(self, scope: Scope, receive: Receive, send: Send, target: NodeInfo | str | None) -> None:
        if isinstance(target, str):
            await send_problem(send, 404, target)
        elif target is None or not target.media_url:
            await send_problem(send, 503, NO_MEDIA_NODE)
        elif any(name == RELAYED_BY.encode() for name, _ in scope["headers"]):
            await send_problem(send, 503, (
                f"节点之间对会场位置的看法暂不一致, 稍后重试 node {self.node.node_id} was sent this request by "
                f"another node but sees it belonging to {target.node_id} (the nodes' views of the cluster differ "
                "for a moment); retry in a few seconds"))
        else:
            await self.relay.carry(scope, receive, send, target)

    async def _redirect(self, target: NodeInfo | None, path: str, send: Send) -> None:
        if target is None or not target.media_url:
            await send_problem(send, 503, NO_MEDIA_NODE)
            return
        location = f"{target.media_url.rstrip('/')}{path}?node={target.node_id}"
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0"),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})
