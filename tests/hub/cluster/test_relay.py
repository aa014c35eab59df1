"""WHEP carried to the node holding the hall (hub/cluster/relay.py): the
browser talks only to the node it signed in on. The holder here is a stub
media node on a real socket that records what reaches it; the node the
client talks to is the real middleware with the registry of a cluster."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from hub.cluster.broker import ClusterNode
from hub.cluster.config import ClusterSettings
from hub.cluster.redirect import MediaRedirect
from hub.cluster.registry import NodeInfo
from hub.cluster.relay import RELAYED_BY, WhepRelay
from hub.events import EventBus
from tests.hub.livehub import serve

BRANCH = 5
OFFER = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 10.0.0.11\r\ns=-\r\na=candidate:1 1 udp 1 10.0.0.11 40000 typ host\r\n"


@dataclass
class Holder:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def holder_app(seen: list[dict[str, Any]], release: threading.Event) -> FastAPI:
    """A media node's WHEP routes, as far as the relay can tell."""
    app = FastAPI()

    async def note(request: Request) -> None:
        seen.append({"method": request.method, "path": request.url.path, "query": request.url.query,
                     "headers": dict(request.headers), "body": await request.body()})

    @app.post("/whep/{branch_id}")
    async def post(branch_id: int, request: Request) -> Response:
        await note(request)
        if branch_id == 7:
            return JSONResponse({"type": "about:blank", "title": "Forbidden", "status": 403,
                                 "detail": "This branch is outside your area."}, status_code=403,
                                media_type="application/problem+json")
        if branch_id == 98:  # a node gone wrong: an answer far larger than any SDP
            return Response("a" * 100_000, status_code=201, media_type="application/sdp")
        if branch_id == 99:  # a node that never answers
            while not release.is_set():
                await asyncio.sleep(0.02)
        return Response(ANSWER, status_code=201, media_type="application/sdp",
                        headers={"Location": f"/whep/{branch_id}/sess-1"})

    @app.delete("/whep/{branch_id}/{session_id}")
    async def delete(branch_id: int, session_id: str, request: Request) -> Response:
        await note(request)
        return Response(status_code=200)

    @app.patch("/whep/{branch_id}/{session_id}")
    async def patch(branch_id: int, session_id: str, request: Request) -> Response:
        await note(request)
        return JSONResponse({"type": "about:blank", "title": "Method Not Allowed", "status": 405,
                             "detail": "no trickle ICE"}, status_code=405, media_type="application/problem+json")

    return app


@pytest.fixture(scope="module")
def holder() -> Iterator[Holder]:
    seen: list[dict[str, Any]] = []
    release = threading.Event()
    with serve(holder_app(seen, release)) as url:
        try:
            yield Holder(url, seen, release)
        finally:
            release.set()


def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_node(node_id: str, role: str, holder_url: str) -> ClusterNode:
    """A node whose registry knows media node m1 (the stub) holding BRANCH, 7, 98 and 99, and
    media node m2, which holds branch 8 and refuses connections. Never started: no broker needed."""
    settings = ClusterSettings(nats_url="nats://unused:4222", role=role)  # type: ignore[arg-type]
    node = ClusterNode(settings, EventBus(), node_id=node_id,
                       media_url=None if role == "api" else "http://self.invalid:8600")
    reg = node.registry
    reg.seen(node.info, 0.0)
    reg.seen(NodeInfo("m1", "media", holder_url), 0.0)
    reg.seen(NodeInfo("m2", "media", f"http://127.0.0.1:{closed_port()}"), 0.0)
    for branch in (BRANCH, 7, 98, 99):
        reg.stream_state(branch, "live", "m1")
    reg.stream_state(8, "live", "m2")
    return node


async def not_reached(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"served here"})


@pytest.fixture
async def api(holder: Holder) -> AsyncIterator[httpx.AsyncClient]:
    """A client of API node `api` signed in with a session cookie."""
    holder.seen.clear()
    relay = WhepRelay("api", max_body=1000, timeout=1.0)
    app = MediaRedirect(not_reached, cluster_node("api", "api", holder.url), relay=relay)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api-2.county",
                                 cookies={"bl_session": "tok-cookie"}) as client:
        yield client
    await relay.aclose()


async def test_whep_is_carried_with_the_session_and_the_location_stays_on_this_node(
        api: httpx.AsyncClient, holder: Holder) -> None:
    r = await api.post(f"/whep/{BRANCH}", content=OFFER, headers={"content-type": "application/sdp"})
    assert r.status_code == 201, r.text
    assert r.text == ANSWER  # the holder's answer, with the holder's candidates
    assert r.headers["content-type"] == "application/sdp"
    assert r.headers["location"] == f"/whep/{BRANCH}/sess-1?node=m1"  # relative: the browser's own origin
    assert r.headers["cache-control"] == "no-store"
    (seen,) = holder.seen
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", f"/whep/{BRANCH}", "node=m1")
    assert seen["body"] == OFFER
    assert seen["headers"]["authorization"] == "Bearer tok-cookie"  # the holder checks the session itself
    assert "cookie" not in seen["headers"]
    assert seen["headers"][RELAYED_BY] == "api"
    assert seen["headers"]["content-type"] == "application/sdp"

    holder.seen.clear()
    location = str(httpx.URL("http://api-2.county/").join(r.headers["location"]))
    assert (await api.patch(location, content=b"a=end-of-candidates\r\n",
                            headers={"content-type": "application/trickle-ice-sdpfrag"})).status_code == 405
    assert (await api.delete(location)).status_code == 200
    assert [(s["method"], s["path"], s["query"]) for s in holder.seen] == [
        ("PATCH", f"/whep/{BRANCH}/sess-1", "node=m1"), ("DELETE", f"/whep/{BRANCH}/sess-1", "node=m1")]
    assert all(s["headers"]["authorization"] == "Bearer tok-cookie" for s in holder.seen)


async def test_a_bearer_client_is_carried_the_same_way(api: httpx.AsyncClient, holder: Holder) -> None:
    api.cookies.clear()
    r = await api.post(f"/whep/{BRANCH}", content=OFFER,
                       headers={"content-type": "application/sdp", "authorization": "Bearer tok-bearer"})
    assert r.status_code == 201 and r.headers["location"] == f"/whep/{BRANCH}/sess-1?node=m1"
    assert holder.seen[0]["headers"]["authorization"] == "Bearer tok-bearer"


async def test_whip_is_still_redirected(api: httpx.AsyncClient, holder: Holder) -> None:
    r = await api.post(f"/whip/{BRANCH}", content=OFFER, headers={"authorization": "Bearer device"})
    assert r.status_code == 307
    assert r.headers["location"].startswith("http://127.0.0.1:")  # the owner's own address (m1 or m2)
    assert f"/whip/{BRANCH}?node=m" in r.headers["location"]
    assert holder.seen == []


async def test_the_holders_problem_comes_back_as_it_is(api: httpx.AsyncClient, holder: Holder) -> None:
    r = await api.post("/whep/7", content=OFFER, headers={"content-type": "application/sdp"})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "This branch is outside your area."


async def test_an_offer_too_large_is_refused_before_the_holder_is_asked(
        api: httpx.AsyncClient, holder: Holder) -> None:
    r = await api.post(f"/whep/{BRANCH}", content=b"a" * 1001, headers={"content-type": "application/sdp"})
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert detail.startswith("SDP 过大") and "send a smaller one" in detail

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(11):
            yield b"a" * 100

    r = await api.post(f"/whep/{BRANCH}", content=chunks(), headers={"content-type": "application/sdp"})
    assert r.status_code == 413
    assert holder.seen == []


async def test_no_session_is_401_here(api: httpx.AsyncClient, holder: Holder) -> None:
    api.cookies.clear()
    r = await api.post(f"/whep/{BRANCH}", content=OFFER, headers={"content-type": "application/sdp"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"].startswith("请先登录") and "sign in first" in r.json()["detail"]
    assert holder.seen == []


async def test_an_unreachable_holder_is_502_saying_what_to_do(api: httpx.AsyncClient) -> None:
    r = await api.post("/whep/8", content=OFFER, headers={"content-type": "application/sdp"})
    assert r.status_code == 502 and r.headers["retry-after"] == "5"
    detail = r.json()["detail"]
    assert detail.startswith("连不上承载该会场的媒体节点 m2") and "cannot reach media node m2" in detail
    assert "retry in a few seconds" in detail


async def test_a_silent_holder_is_504_after_the_relay_timeout(api: httpx.AsyncClient, holder: Holder) -> None:
    r = await api.post("/whep/99", content=OFFER, headers={"content-type": "application/sdp"})
    assert r.status_code == 504
    detail = r.json()["detail"]
    assert detail.startswith("媒体节点 m1 在 1 秒内没有回答") and "did not answer within 1 s" in detail


async def test_an_answer_larger_than_any_sdp_is_dropped(api: httpx.AsyncClient) -> None:
    r = await api.post("/whep/98", content=OFFER, headers={"content-type": "application/sdp"})
    assert r.status_code == 502
    assert "media node m1 is larger than" in r.json()["detail"] and "check that node's log" in r.json()["detail"]


async def test_a_session_on_a_node_that_is_gone_says_open_it_again(api: httpx.AsyncClient, holder: Holder) -> None:
    r = await api.delete(f"/whep/{BRANCH}/sess-1?node=media-9")
    assert r.status_code == 404
    assert "media node media-9" in r.json()["detail"] and "open the live view again" in r.json()["detail"]
    assert holder.seen == []


async def test_a_carried_request_is_never_carried_again(holder: Holder) -> None:
    holder.seen.clear()
    app = MediaRedirect(not_reached, cluster_node("m3", "media", holder.url), relay=WhepRelay("m3"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m3") as client:
        headers = {"content-type": "application/sdp", "authorization": "Bearer t", RELAYED_BY: "api"}
        r = await client.post(f"/whep/{BRANCH}", content=OFFER, headers=headers)
        assert r.status_code == 503 and "retry in a few seconds" in r.json()["detail"]
        named = await client.post(f"/whep/{BRANCH}?node=m3", content=OFFER, headers=headers)
        assert named.text == "served here"  # named: this node serves it, whatever its registry says
        own = await client.delete(f"/whep/{BRANCH}/sess-1?node=m3", headers=headers)
        assert own.text == "served here"
        plain = await client.delete(f"/whep/{BRANCH}/sess-1", headers=headers)
        assert plain.text == "served here"  # a session of this node's own (no `node`): served here
    assert holder.seen == []
