"""Several hub nodes on this machine (issue 15, "Done when"): PostgreSQL,
NATS, two API nodes and three media nodes, each a separate `branchlive hub`
process whose settings select its role, each in a network namespace of its
own on one bridge (tests/e2e/netfabric.py), as on five machines of a LAN.
The nodes reach PostgreSQL through its Unix socket and NATS on the bridge;
halls, the operator and the wall are in the test's namespace.

One scenario, in order:
- halls (lean reconnecting publishers, tests/e2e/multinode_load.py) POST
  their WHIP offers to any of the five nodes, round robin, and are
  redirected (307) to the media node rendezvous hashing gives them; every
  media node carries some;
- the operator signs in on API node 1 and opens the wall socket on API
  node 2; every hall shows live there;
- a hall's edge socket on API node 1 opens a meeting and sends a check-in:
  it appears on the wall socket of API node 2;
- the operator signs in on API node 2 (session cookie, as the browser) and
  opens a live view (WHEP) of a hall a media node carries, through API
  node 2's address only: the signalling is carried to the media node, the
  answer's candidates are the media node's, decoded video frames arrive,
  and the session URL (on API node 2) ends the view; then the same in
  Chromium (when installed): the branch page's video plays, every request
  of the page goes to API node 2, the media comes from the media node;
- the media node carrying that hall is killed with SIGKILL: each of its
  halls is shown not live on the wall (the dead node cannot say so: the
  others do), then live again on a surviving node, within 15 s of the kill;
  the meeting's recording goes on, losing at most the segment being written
  plus the reconnect.

MULTINODE_HALLS (default 150, see HALLS) sets the number of halls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import nats
import pytest
import websockets
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from sqlalchemy import create_engine, make_url, select

from branchlive.seed import Hall, seed_county
from branchlive.wall_sim import CHROMIUM, launch_args
from hub.db import make_engine, make_session_factory, migrate
from hub.media.bench import make_bench_clip
from hub.media.ice import offer_host_addresses
from hub.recordings.models import RecordedSegment
from tests.conftest import PG_URL, reset_postgres
from tests.e2e.netfabric import Fabric
from tests.e2e.test_edge_media import _netns_ok
from tests.hub.cluster.natsserver import nats_server

ROOT = Path(__file__).resolve().parents[2]
# The 150 halls. Their publishers are lean (tests/e2e/multinode_load.py:
# one SRTP protect and one sendto per packet), which keeps them up on two shared cores.
HALLS = int(os.environ.get("MULTINODE_HALLS", "150"))
ADMIN_PASSWORD = "county-admin-pw"
SEGMENT_SECONDS = 6.0  # media.segment_seconds default: the segment being written on the dead node is lost
GOP_SECONDS = 2.0  # the new node's first segment starts at a keyframe
FAILOVER_BOUND = 15.0  # the bound, seconds from the kill to every hall live again

NODE_PORT = 8600  # every node on its own address, all on the same port
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900),
              pytest.mark.skipif(not _netns_ok(), reason="needs root and `ip netns` for the nodes' machines")]


@dataclass
class HubNode:
    name: str
    role: str
    ip: str
    ns: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{NODE_PORT}"


@dataclass
class Cluster:
    nats_url: str
    nodes: dict[str, HubNode]
    tmp: Path
    wall: list[dict[str, Any]] = field(default_factory=list)  # every tile / checkin message, in order


def socket_url(url: str) -> str:
    """The same database through the server's Unix socket: reachable from
    every namespace of this host."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            directory = str(conn.exec_driver_sql("SHOW unix_socket_directories").scalar()).split(",")[0].strip()
    finally:
        engine.dispose()
    u = make_url(url)
    return u.set(host="", query={"host": directory, "port": str(u.port or 5432)}).render_as_string(hide_password=False)


def start_node(node: HubNode, cluster_tmp: Path, nats_url: str, db_url: str) -> None:
    env = dict(os.environ, BRANCHLIVE_ADMIN_PASSWORD=ADMIN_PASSWORD, BRANCHLIVE_DATABASE_URL=db_url,
               BRANCHLIVE_CLUSTER__NATS_URL=nats_url, BRANCHLIVE_CLUSTER__ROLE=node.role,
               BRANCHLIVE_CLUSTER__NODE_ID=node.name, BRANCHLIVE_CLUSTER__MEDIA_URL=node.url,
               BRANCHLIVE_MEDIA__ICE_HOST_ADDRESSES=json.dumps([node.ip]))
    log = open(cluster_tmp / f"{node.name}.log", "wb")
    # One data directory for all: the shared storage recordings are served from (docs/cluster.md).
    node.proc = subprocess.Popen(
        ["ip", "netns", "exec", node.ns, sys.executable, "-m", "branchlive.cli", "hub", "--host", node.ip,
         "--port", str(NODE_PORT), "--data-dir", str(cluster_tmp / "data"), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    log.close()


async def until(check: Callable[[], Any], what: str, timeout: float, logs: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}" + (f" (logs in {logs})" if logs else ""))
        await asyncio.sleep(0.1)


async def node_up(node: HubNode) -> bool:
    assert node.proc is not None and node.proc.poll() is None, f"{node.name} exited; see its log"
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2) as c:
            return (await c.get(node.url + "/api/v1/meeting-types")).status_code < 500
    return False


@pytest.fixture(scope="module")
def pg_url() -> str:
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("BRANCHLIVE_TEST_PG_URL is not set: run the tests with scripts/test")
        pytest.skip("no PostgreSQL server (run scripts/test to start one)")
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture(scope="module")
def clip_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="multinode-clip-") as tmp:
        make_bench_clip(Path(tmp))
        yield Path(tmp)


@pytest.fixture
def county(pg_url: str) -> list[Hall]:
    """The county, written before the nodes start (each node's wall loads it then)."""
    engine = make_engine(pg_url)
    migrate(engine)
    halls = seed_county(make_session_factory(engine), townships=5, halls=HALLS, members=(4, 8))
    engine.dispose()
    return halls


@pytest.fixture
def fabric() -> Iterator[Fabric]:
    f = Fabric().up()
    try:
        yield f
    finally:
        f.down()


@pytest.fixture
async def cluster(county: list[Hall], tmp_path: Path, fabric: Fabric, pg_url: str) -> AsyncIterator[Cluster]:
    names = [("api-1", "api"), ("api-2", "api"), ("media-1", "media"), ("media-2", "media"), ("media-3", "media")]
    db_url = socket_url(pg_url)
    with nats_server(fabric.host_ip) as (nats_url, _):
        c = Cluster(nats_url, {n: HubNode(n, role, fabric.add(n), "") for n, role in names}, tmp_path)
        for node in c.nodes.values():
            node.ns = fabric.ns_of(node.name)
        try:
            first = c.nodes["api-1"]  # migrates the empty database and creates the admin, alone
            start_node(first, tmp_path, nats_url, db_url)
            await until(lambda: node_up(first), "API node 1 up", 120, tmp_path)
            for node in list(c.nodes.values())[1:]:
                start_node(node, tmp_path, nats_url, db_url)
            for node in c.nodes.values():
                await until(lambda n=node: node_up(n), f"{node.name} up", 120, tmp_path)  # type: ignore[misc]
            yield c
        finally:
            for node in c.nodes.values():
                if node.proc is not None and node.proc.poll() is None:
                    node.proc.terminate()
            for node in c.nodes.values():
                if node.proc is not None:
                    try:
                        node.proc.wait(30)
                    except subprocess.TimeoutExpired:
                        node.proc.kill()
                        node.proc.wait(10)


async def registry(nats_url: str) -> dict[str, dict[str, Any]]:
    """The node registry as the nodes keep it (the JetStream KV bucket)."""
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value("branchlive_nodes")
        out = {}
        with contextlib.suppress(Exception):  # no keys yet
            for key in await kv.keys():
                with contextlib.suppress(Exception):
                    entry = await kv.get(key)
                    if entry.value:
                        out[key] = json.loads(entry.value)
        return out
    finally:
        await nc.close()


def recorded(url: str, meeting_id: str) -> list[tuple[datetime, float]]:
    """The meeting's segments in the index: (start, duration), in order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(RecordedSegment.started_at, RecordedSegment.duration)
                                .where(RecordedSegment.meeting_id == meeting_id).order_by(RecordedSegment.started_at))
            return [(r[0] if r[0].tzinfo else r[0].replace(tzinfo=UTC), float(r[1])) for r in rows]
    finally:
        engine.dispose()


async def read_wall(ws: Any, tiles: dict[int, dict[str, Any]], log: list[dict[str, Any]]) -> None:
    async for raw in ws:
        message = json.loads(raw)
        for m in message["messages"] if message["type"] == "batch" else [message]:
            if m["type"] == "snapshot":
                tiles.update({t["branch_id"]: t for t in m["tiles"]})
            elif m["type"] == "tile":
                tiles[m["tile"]["branch_id"]] = m["tile"]
                log.append({"at": time.monotonic(), "branch_id": m["tile"]["branch_id"], "stream": m["tile"]["stream"]})
            elif m["type"] == "checkin":
                log.append({"at": time.monotonic(), **m})


def edge_msg(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": str(uuid.uuid4()), "ts": time.time(), **fields}


async def edge_until(ws: Any, type_: str, message_id: str | None = None) -> dict[str, Any]:
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if m["type"] == type_ and (message_id is None or m.get("id") == message_id):
            return m


async def watch_through(node: HubNode, branch_id: int, address: str, holder: HubNode, logs: Path) -> int:
    """The operator signs in on `node` with the session cookie (the browser's
    way: no bearer token) and watches `branch_id` through `node` alone, as
    dashboard/js/whep.js does; returns the video frames decoded."""
    async with httpx.AsyncClient(base_url=node.url, timeout=30, follow_redirects=True) as browser:  # as fetch()
        # the media node checks the session itself: a forged cookie is carried there and refused there
        forged = await browser.post(f"/whep/{branch_id}", content=b"v=0\r\n",
                                    headers={"content-type": "application/sdp", "cookie": "bl_session=forged"})
        assert forged.status_code == 401 and "sign in again" in forged.json()["detail"], forged.text
        r = await browser.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        assert browser.cookies.get("bl_session"), "signing in sets the session cookie"
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        decoded = {"video": 0, "width": 0}
        readers: list[asyncio.Task[None]] = []

        async def consume(track: MediaStreamTrack) -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    if isinstance(frame, av.VideoFrame):  # decoded: aiortc hands out pictures, not packets
                        decoded["video"] += 1
                        decoded["width"] = frame.width

        pc.on("track", lambda track: readers.append(asyncio.ensure_future(consume(track))))
        try:
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
            offer_host_addresses(pc, [address])
            await pc.setLocalDescription(await pc.createOffer())
            r = await browser.post(f"/whep/{branch_id}", content=pc.localDescription.sdp.encode(),
                                   headers={"content-type": "application/sdp"})
            assert r.status_code == 201, f"WHEP through {node.name}: {r.status_code} {r.text}"
            location = r.headers["location"]
            assert location == f"/whep/{branch_id}/{location.split('/')[3].split('?')[0]}?node={holder.name}", \
                f"the session URL is on {node.name}'s origin and names the media node: {location}"
            candidates = [line for line in r.text.splitlines() if line.startswith("a=candidate:")]
            assert candidates and all(f" {holder.ip} " in c for c in candidates), \
                f"the media flows from {holder.name} ({holder.ip}), not through {node.name}: {candidates}"
            await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
            await until(lambda: decoded["video"] >= 10 and decoded["width"] > 0,
                        f"decoded video of hall {branch_id} from {holder.name}, watched through {node.name}", 60,
                        logs)
            assert (await browser.delete(location)).status_code == 200  # carried to the media node
            gone = await browser.delete(location)
            assert gone.status_code == 404 and "ended" in gone.json()["detail"], gone.text
            return decoded["video"]
        finally:
            await pc.close()
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


SELECTED_REMOTE = """async () => {
  const pc = window.branchlive.views.branch.viewer.pc;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  const remote = pair ? stats.get(pair.remoteCandidateId) : null;
  return remote ? (remote.address || remote.ip) : null;
}"""

PAGE_STATE = """() => {
  const v = document.getElementById("live-video");
  const m = document.getElementById("media-msg");
  return {hash: location.hash, video: v ? {w: v.videoWidth, t: v.currentTime, ready: v.readyState} : null,
          msg: m && !m.hidden ? m.textContent : null,
          pc: window.branchlive?.views?.branch?.viewer?.pc?.connectionState ?? null};
}"""


async def watch_in_chromium(node: HubNode, branch_id: int, holder: HubNode, logs: Path) -> str:
    """The same in real Chromium: sign in on `node`'s page, click the hall's
    tile, the branch page's live video plays. Every request of the page goes
    to `node`; the selected ICE pair's remote end is the media node. Returns
    the media's remote address."""
    from playwright.async_api import async_playwright

    requests: list[str] = []
    deletes: list[int] = []
    async with async_playwright() as pw:
        options = launch_args("")
        # kept off the network as in tests/dashboard, except for the node it signs in on
        options["args"] = [f"{a}, EXCLUDE {node.ip}" if a.startswith("--host-resolver-rules=") else a
                           for a in options["args"]]
        browser = await pw.chromium.launch(**options)
        try:
            context = await browser.new_context(locale="zh-CN", bypass_csp=True)  # the probes are evaluated strings
            page = await context.new_page()
            console: list[str] = []
            failed: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            try:
                page.on("request", lambda req: requests.append(req.url))
                def answered(res: Any) -> None:
                    if res.request.method == "DELETE" and "/whep/" in res.url:
                        deletes.append(res.status)
                    elif res.status >= 400:
                        failed.append(f"{res.request.method} {res.url} {res.status}")

                page.on("response", answered)
                await page.goto(node.url + "/")
                await page.fill("#login-user", "admin")
                await page.fill("#login-pass", ADMIN_PASSWORD)
                await page.click("#login-form button[type=submit]:not([disabled])", timeout=180_000)
                tile = page.locator(f'.tile[data-id="{branch_id}"]')
                await tile.click(timeout=60_000)  # its stream is live (its device socket is not: shown offline)
                await page.wait_for_function("""() => {
                    const v = document.getElementById('live-video');
                    return v && v.videoWidth > 0 && v.currentTime > 0.5;
                }""", timeout=60_000)
                t0 = await page.evaluate("document.getElementById('live-video').currentTime")
                await page.wait_for_function(f"document.getElementById('live-video').currentTime > {t0} + 1",
                                             timeout=60_000)
                remote = await page.evaluate(SELECTED_REMOTE)
                await page.keyboard.press("Escape")  # back to the wall: whep.js DELETEs the session URL
                await page.wait_for_function("() => !window.branchlive.views.branch.viewer", timeout=60_000)
                deadline = time.monotonic() + 60
                while not deletes:
                    assert time.monotonic() < deadline, "the page's DELETE of its WHEP session was not answered"
                    await asyncio.sleep(0.1)
                assert deletes == [200], f"DELETE of the WHEP session through {node.name}: {deletes}"
            except Exception as exc:
                await page.screenshot(path=str(logs / "chromium.png"))
                state = await page.evaluate(PAGE_STATE)
                raise AssertionError(f"Chromium on {node.name}: {str(exc).splitlines()[0]}; page {state}; failed {failed}; "
                                     f"console {console[-10:]}; "
                                     f"screenshot {logs / 'chromium.png'}") from None
        finally:
            await browser.close()
    elsewhere = [u for u in requests if not u.startswith(node.url + "/")]
    assert not elsewhere, f"the page asked other origins than {node.name}: {elsewhere[:5]}"
    assert remote == holder.ip, f"the media comes from {remote}, not from {holder.name} ({holder.ip})"
    return str(remote)


async def test_halls_spread_checkins_cross_and_a_killed_media_node_fails_over(
        cluster: Cluster, county: list[Hall], clip_dir: Path, pg_url: str, fabric: Fabric) -> None:
    nodes = cluster.nodes
    logs = cluster.tmp
    halls = county
    urls = [n.url for n in nodes.values()]

    # -- the wall of API node 2, signed in on API node 1 -------------------------------
    async with httpx.AsyncClient(base_url=nodes["api-1"].url, timeout=30) as api1:
        r = await api1.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
    tiles: dict[int, dict[str, Any]] = {}
    wall_log: list[dict[str, Any]] = []
    ws_url = nodes["api-2"].url.replace("http://", "ws://") + "/ws/wall"
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"},
                                  max_size=None) as wall:
        reader = asyncio.create_task(read_wall(wall, tiles, wall_log))

        # -- publishers: each hall POSTs to one of the five nodes -----------------------
        # each hall knows the five addresses, starting from a different one
        spec = [{"branch_id": h.branch_id, "token": h.token, "urls": urls[i % len(urls):] + urls[:i % len(urls)],
                 "address": fabric.host_ip} for i, h in enumerate(halls)]
        status = logs / "publishers.json"
        procs = []
        for part in range(2):  # two processes, like two groups of halls
            f = logs / f"halls-{part}.json"
            f.write_text(json.dumps(spec[part::2]))
            out = open(logs / f"publishers-{part}.log", "wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "tests.e2e.multinode_load", str(clip_dir), str(f),
                                           str(status.with_name(f"status-{part}.json"))],
                                          cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
            out.close()
        try:
            ids = {h.branch_id for h in halls}

            def all_live() -> bool:
                return all(tiles.get(b, {}).get("stream") == "live" for b in ids)

            def not_live() -> str:
                (logs / "wall.json").write_text(json.dumps(wall_log))
                return str({b: tiles.get(b, {}).get("stream") for b in ids
                            if tiles.get(b, {}).get("stream") != "live"})

            try:
                await until(all_live, f"all {HALLS} halls live on API node 2's wall", 180, logs)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; not live: {not_live()}") from None
            async def registry_covers_all() -> dict[str, dict[str, Any]]:
                # the wall learns from events at once; the registry at each node's next heartbeat
                reg = await registry(cluster.nats_url)
                live = set().union(*(set(reg.get(n, {}).get("live", ())) for n in ("media-1", "media-2", "media-3")))
                return reg if live == ids else {}

            reg = await until(registry_covers_all, "every live hall in the node registry", 30, logs)
            held = {n: set(reg[n]["live"]) for n in ("media-1", "media-2", "media-3")}
            assert all(held.values()), f"every media node carries halls: { {n: len(b) for n, b in held.items()} }"
            assert set().union(*held.values()) == ids
            assert "api-1" in reg and "api-2" in reg and reg["api-1"]["media_url"] is None

            # -- a check-in on API node 1 reaches the wall socket of API node 2 ----------
            hall = halls[0]
            edge_url = nodes["api-1"].url.replace("http://", "ws://") + "/ws/edge"
            async with websockets.connect(edge_url, additional_headers={"Authorization": f"Bearer {hall.token}"}) as edge:
                await edge.send(json.dumps(edge_msg("hello", agent_version="test", roster_version=None)))
                await edge_until(edge, "welcome")
                meeting_id = str(uuid.uuid4())
                start = edge_msg("meeting.start", meeting_id=meeting_id, meeting_type="theme_day", topic="主题党日",
                                 started_at=time.time())
                await edge.send(json.dumps(start))
                assert (await edge_until(edge, "ack", start["id"]))["ok"]
                checkin = edge_msg("checkin", meeting_id=meeting_id, member_id=hall.members[0], method="fingerprint",
                                   checked_in_at=time.time())
                await edge.send(json.dumps(checkin))
                assert (await edge_until(edge, "ack", checkin["id"]))["ok"]
                await until(lambda: any(m.get("type") == "checkin" and m["member_id"] == hall.members[0]
                                        for m in wall_log), "the check-in on API node 2's wall", 60, logs)
                await until(lambda: tiles[hall.branch_id]["checked_in"] == 1 and tiles[hall.branch_id]["meeting"],
                            "the meeting and its check-in on API node 2's tile", 60, logs)

            # -- the operator on API node 2 watches a hall live through API node 2 only --
            watched = halls[1].branch_id
            holder = next(n for n, branches in held.items() if watched in branches)
            frames = await watch_through(nodes["api-2"], watched, fabric.host_ip, nodes[holder], logs)
            if Path(CHROMIUM).exists():  # the dashboard's branch page, in the browser the county uses
                await watch_in_chromium(nodes["api-2"], watched, nodes[holder], logs)
                watchers = "aiortc and Chromium"
            else:
                watchers = "aiortc (no Chromium here)"

            # -- SIGKILL the media node recording that meeting --------------------------
            await until(lambda: asyncio.to_thread(recorded, pg_url, meeting_id), "the meeting's first segment",
                        120, logs)
            victim = next(n for n, branches in held.items() if hall.branch_id in branches)
            orphans = held[victim]
            survivors = [n for n in held if n != victim]
            proc = nodes[victim].proc
            assert proc is not None
            killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

            marks: dict[str, float] = {}

            def back_on_wall(b: int) -> bool:  # shown not live after the kill, then live again
                return tiles[b]["stream"] == "live" and any(
                    m.get("branch_id") == b and m.get("stream") in ("offline", "stalled") and m["at"] > killed_at
                    for m in wall_log)

            async def moved() -> bool:
                if all(back_on_wall(b) for b in orphans):
                    marks.setdefault("wall", time.monotonic() - killed_at)
                reg = await registry(cluster.nats_url)
                now_held = set().union(*(set(reg.get(n, {}).get("live", ())) for n in survivors))
                if victim not in reg:
                    marks.setdefault("registry drops the victim", time.monotonic() - killed_at)
                if orphans <= now_held:
                    marks.setdefault("survivors hold them", time.monotonic() - killed_at)
                return len(marks) == 3

            await until(moved, f"the {len(orphans)} halls of {victim} live again on {survivors}", 300, logs)
            took = time.monotonic() - killed_at
            await until(all_live, "every hall live at the end", 180, logs)

            # -- recording went on: lost at most the segment being written plus the reconnect
            async def recorded_after_kill() -> list[tuple[datetime, float]]:
                segments = await asyncio.to_thread(recorded, pg_url, meeting_id)
                return segments if any(sg[0] > killed_wall for sg in segments) else []

            segments = await until(recorded_after_kill, "a segment recorded after the kill", 120, logs)
            before = [sg for sg in segments if sg[0] <= killed_wall]
            after_kill = [sg for sg in segments if sg[0] > killed_wall]
            assert before, "segments from before the kill are kept"
            gap = (after_kill[0][0] - (before[-1][0] + timedelta(seconds=before[-1][1]))).total_seconds()
            lost_bound = SEGMENT_SECONDS + took + GOP_SECONDS
            assert gap <= lost_bound, f"recording gap {gap:.1f} s > one segment + reconnect ({lost_bound:.1f} s)"
            (logs / "wall.json").write_text(json.dumps(wall_log))
            assert took <= FAILOVER_BOUND, (f"{len(orphans)} halls of {victim} took {took:.1f} s to be live again "
                                            f"(bound {FAILOVER_BOUND:g} s; {HALLS} halls on a shared machine; "
                                            f"seconds after the kill: {marks})")
            print(f"\nmultinode: {HALLS} halls, spread {[len(b) for b in held.values()]}; hall {watched} watched "
                  f"through api-2 from {holder} ({frames} frames decoded; {watchers}); killed {victim} "
                  f"({len(orphans)} halls): all live again on {survivors} after {took:.1f} s; "
                  f"recording gap {gap:.1f} s (bound {lost_bound:.1f} s)")
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
