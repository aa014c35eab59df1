"""Two nodes' buses joined through a real nats-server: events cross once,
a node that dies (no goodbye) has its halls shown offline on the other, and
WHIP POSTs are redirected to the node that carries the hall (WHEP is carried
there: test_relay.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from hub.cluster.broker import ClusterNode
from hub.cluster.config import ClusterSettings
from hub.cluster.redirect import MediaRedirect
from hub.cluster.relay import RELAYED_BY
from hub.events import AlertRaised, CheckInRecorded, Event, EventBus, StreamStateChanged
from tests.hub.cluster.natsserver import nats_server


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    with nats_server() as (url, _):
        yield url


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


class Node:
    def __init__(self, url: str, node_id: str, role: str) -> None:
        self.bus = EventBus()
        self.seen: list[Event] = []
        self.bus.on(Event, self.seen.append)
        settings = ClusterSettings(nats_url=url, role=role, heartbeat_seconds=0.2, node_timeout_seconds=1.0,
                                   subject_prefix="test")
        self.cluster = ClusterNode(settings, self.bus, node_id=node_id,
                                   media_url=None if role == "api" else f"http://{node_id}.example:8600")


@pytest.fixture
async def nodes(nats_url: str) -> AsyncIterator[Callable[[str, str], Awaitable[Node]]]:
    started: list[Node] = []

    async def make(node_id: str, role: str) -> Node:
        node = Node(nats_url, node_id, role)
        node.bus.bind_loop(asyncio.get_running_loop())
        await node.cluster.start()
        started.append(node)
        return node

    yield make
    for node in started:
        await node.cluster.stop()


async def test_events_cross_nodes_once_and_never_loop(nodes: Callable[[str, str], Awaitable[Node]]) -> None:
    api1, api2 = await nodes("api1", "api"), await nodes("api2", "api")
    await until(lambda: "api2" in api1.cluster.registry.nodes and "api1" in api2.cluster.registry.nodes,
                "each node sees the other")
    checkin = CheckInRecorded(branch_id=3, meeting_id="m", member_id=1, member_name="张三",
                              checked_in_at=datetime.now(UTC), method="fingerprint", late=False)
    api1.bus.publish(checkin)
    await until(lambda: checkin in api2.seen, "the check-in reaches node 2")
    marker = AlertRaised(branch_id=None, kind="marker", message="after")
    api2.bus.publish(marker)
    await until(lambda: marker in api1.seen, "a later event from node 2 reaches node 1")
    assert api1.seen.count(checkin) == 1 and api2.seen.count(checkin) == 1
    assert api2.seen.count(marker) == 1


async def test_dead_node_halls_go_offline_and_redirects_move(nodes: Callable[[str, str], Awaitable[Node]]) -> None:
    api = await nodes("api", "api")
    a, b = await nodes("media-a", "media"), await nodes("media-b", "media")
    await until(lambda: all(n.cluster.registry.media_nodes() == ["media-a", "media-b"] for n in (api, a, b)),
                "every node sees both media nodes")
    mine = [br for br in range(1, 60) if api.cluster.target("whip", br).node_id == "media-a"]  # type: ignore[union-attr]
    assert mine
    for branch in mine:
        a.bus.publish(StreamStateChanged(branch_id=branch, state="live"))
    await until(lambda: all(n.cluster.registry.holders.get(br, ("",))[0] == "media-a" for br in mine
                            for n in (api, b)), "node a's halls are held by a, for every node")

    async def post(node: Node, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"served here"})

        transport = httpx.ASGITransport(app=MediaRedirect(app, node.cluster))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.post(path, content=b"v=0", headers=headers)

    r = await post(api, f"/whip/{mine[0]}")
    assert r.status_code == 307
    assert r.headers["location"] == f"http://media-a.example:8600/whip/{mine[0]}?node=media-a"
    assert (await post(a, f"/whip/{mine[0]}")).status_code == 201  # its own hall: served
    assert (await post(b, f"/whip/{mine[0]}?node=media-b")).status_code == 201  # named: served
    # WHEP is carried (test_relay.py), not redirected: a request already carried once says where it belongs
    carried = await post(b, f"/whep/{mine[0]}", {RELAYED_BY: "api"})
    assert carried.status_code == 503 and "belonging to media-a" in carried.json()["detail"]

    # SIGKILL-like: no goodbye, heartbeats stop, the connection vanishes
    for task in a.cluster._tasks:
        task.cancel()
    await a.cluster._nc.close()
    await until(lambda: api.cluster.registry.media_nodes() == b.cluster.registry.media_nodes() == ["media-b"],
                "node a counted dead")
    for branch in mine:
        assert StreamStateChanged(branch_id=branch, state="offline") in api.seen
        assert StreamStateChanged(branch_id=branch, state="offline") in b.seen
    assert any(isinstance(e, AlertRaised) and e.kind == "media_node_lost" for e in api.seen)
    r = await post(api, f"/whip/{mine[0]}")
    assert r.headers["location"] == f"http://media-b.example:8600/whip/{mine[0]}?node=media-b"
    a.cluster._tasks = []  # already stopped


async def test_no_media_node_is_503_with_retry(nodes: Callable[[str, str], Awaitable[Node]]) -> None:
    api = await nodes("lonely-api", "api")

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        raise AssertionError("must not be reached")

    transport = httpx.ASGITransport(app=MediaRedirect(app, api.cluster))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        r = await client.post("/whip/1", content=b"v=0")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "no media node is alive" in r.json()["detail"]
