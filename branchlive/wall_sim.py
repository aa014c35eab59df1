"""Wall benchmark and the simulated county it runs against.

`run_wall_bench(branches=512, seconds=30)` starts a hub subprocess, seeds a
county over REST, connects one `/ws/edge` socket per branch (heartbeats, a
JPEG thumbnail every 5 s, open meetings, check-ins, meetings opening and
ending), opens the wall in headless Debian Chromium (3840x2160, the dense
layout chosen with one click) and measures what the page costs: main-thread
busy share (CDP `Performance.getMetrics` TaskDuration; long tasks from a
PerformanceObserver), JS heap, bytes per second received from the hub. It
also reads the page: tiles inside the viewport, and group headers against
the tiles under them every second (TILES_IN_VIEWPORT_JS, HEADER_COUNTS_JS,
used by tests/dashboard too).

The helpers (HubProcess from branchlive/hub_process.py, seed_county, EdgeSim,
EdgeLoop, CHROMIUM_ARGS) are also used by tests/dashboard. This module
imports nothing from `hub`: it talks to the hub only over HTTP and
WebSocket, like a browser and a hall do.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from branchlive.hub_process import ADMIN_PASSWORD, HubProcess, free_port  # noqa: F401 - the harness names tests import from here
from branchlive.simhall import EdgeClient

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# ../shared/notes/chromium-webrtc.md: WebRTC on loopback, and the browser kept off the network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--disable-extensions", "--disable-component-extensions-with-background-pages",
    "--disable-default-apps", "--no-pings", "--disable-domain-reliability",
    "--disable-client-side-phishing-detection", "--disable-breakpad", "--dns-prefetch-disable",
]


def launch_args(user_data_dir: str) -> dict[str, Any]:
    """Keyword arguments for Playwright's `chromium.launch`. Playwright refuses
    --user-data-dir in launch(); it gives every launch a fresh profile itself."""
    del user_data_dir
    return {"executable_path": CHROMIUM, "headless": True,
            "args": [a for a in CHROMIUM_ARGS if a != "--headless"]}


def admin_client(hub_url: str, username: str = "admin", password: str = ADMIN_PASSWORD) -> httpx.Client:
    return login_client(hub_url, username, password)


def login_client(hub_url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=hub_url, timeout=30)
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    r.raise_for_status()
    client.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return client


# ---- seeding a county over REST --------------------------------------------
@dataclass
class SeededBranch:
    id: int
    name: str
    township: str
    township_id: int
    members: list[int] = field(default_factory=list)
    token: str = ""


def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text}")
    return r.json()


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> Any:
    # The hub commits some writes after it has answered (a dependency's exit
    # code), so the next request can meet "database is locked" (500) or miss
    # the row just made (enrol: 401). Reported to the hub's owner; retry.
    retry_on = {500, 401} if url.endswith("/devices/enrol") else {500}
    for attempt in range(6):
        r = client.post(url, json=body)
        if r.status_code not in retry_on or attempt == 5:
            return _ok(r)
        time.sleep(0.2 * (attempt + 1))


def seed_county(client: httpx.Client, townships: dict[str, list[str]], members_per_branch: int = 6,
                devices: bool = True, workers: int = 1) -> list[SeededBranch]:
    """Townships and branches under the county root, members and an enrolled
    device per branch. Returns the branches in order with their device tokens."""
    root = next(u for u in _ok(client.get("/api/v1/org-units")) if u["kind"] == "county")
    branches: list[SeededBranch] = []
    for town, names in townships.items():
        town_id = _post(client, "/api/v1/org-units", {"name": town, "kind": "township", "parent_id": root["id"]})["id"]
        for name in names:
            unit = _post(client, "/api/v1/org-units", {"name": name, "kind": "branch", "parent_id": town_id})
            branches.append(SeededBranch(unit["id"], name, town, town_id))

    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = ["建国", "秀英", "国强", "桂兰", "志明", "海燕", "德华", "春梅", "永福", "玉珍", "振华", "淑芬"]

    def fill(b: SeededBranch) -> None:
        for i in range(members_per_branch):
            name = surnames[(b.id + i) % len(surnames)] + given[(b.id * 7 + i) % len(given)]
            body = {"name": name, "member_no": f"{b.id}-{i + 1:03d}", "committee": i < 3,
                    "status": "probationary" if i == members_per_branch - 1 and i > 3 else "full"}
            b.members.append(_post(client, f"/api/v1/branches/{b.id}/members", body)["id"])
        if devices:
            code = _post(client, f"/api/v1/branches/{b.id}/devices", {"name": "hall-pc"})["enrolment_code"]
            b.token = _post(client, "/api/v1/devices/enrol", {"code": code})["token"]

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fill, branches))
    return branches


def county_plan(branches: int, townships: int) -> dict[str, list[str]]:
    """Chinese township and village names for a county of the given size."""
    towns = ["城关镇", "东风镇", "红旗乡", "青山镇", "河西乡", "新华街道", "石桥镇", "柳林乡", "白马镇", "金沙乡",
             "太平镇", "龙泉街道", "长安乡", "双河镇", "桃源乡", "凤凰镇", "永安乡", "清水镇", "五里乡", "南山街道"]
    villages = "东西南北前后上下大小新老高低张李王刘陈杨赵黄周吴"
    suffix = ["庄", "村", "屯", "湾", "坪", "岭", "沟", "坝"]
    plan: dict[str, list[str]] = {}
    for i in range(branches):
        town = towns[i % townships] if townships <= len(towns) else f"第{i % townships + 1}乡"
        n = len(plan.setdefault(town, []))
        plan[town].append(f"{villages[(i * 7) % len(villages)]}{villages[(n * 3 + i) % len(villages)]}{suffix[n % len(suffix)]}{n + 1}党支部")
    return plan


# ---- the halls: edge sockets ------------------------------------------------
def make_jpeg(label: str, hue: int = 0, width: int = 320, height: int = 180) -> bytes:
    """A small JPEG with a label and the time, as a hall camera would show."""
    import cv2
    import numpy as np

    img = np.zeros((height, width, 3), np.uint8)
    img[:] = ((hue * 37) % 200 + 30, (hue * 91) % 160 + 40, (hue * 53) % 120 + 60)
    cv2.rectangle(img, (10, height // 2), (width - 10, height - 10), (40, 40, 40), -1)
    cv2.putText(img, label[:24], (16, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    cv2.putText(img, time.strftime("%H:%M:%S"), (16, height - 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 255, 255), 2)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return bytes(buf)


# One hall's edge agent reduced to the wire protocol (docs/protocols/edge-ws.md).
EdgeSim = EdgeClient


class EdgeLoop:
    """An asyncio loop on a thread, so sync code (Playwright's sync API) can drive halls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="edge-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


async def hall_life(sim: EdgeSim, branch: SeededBranch, index: int, *, live: bool, stop: asyncio.Event,
                    thumb_s: float = 5.0, heartbeat_s: float = 10.0, churn: float = 0.0,
                    errors: dict[str, int] | None = None) -> None:
    """Heartbeats and thumbnails at a random phase; a meeting with check-ins
    trickling in. With `churn` > 0, at each picture a hall ends its meeting
    or opens one with that probability, so tiles change state (and move
    between the counts of their group header) while the wall is watched.
    A step that fails (an ack late on a loaded machine) is counted in
    `errors` and the hall carries on, as a real edge agent would."""
    rng = random.Random(index)
    await asyncio.sleep(rng.uniform(0, thumb_s))
    jpeg = make_jpeg(f"hall {branch.id}", index)
    meeting_id: str | None = None
    to_check: list[int] = []

    lost = False

    async def step(what: str, coro: Coroutine[Any, Any, Any]) -> Any:
        nonlocal lost
        try:
            return await coro
        except (AssertionError, TimeoutError, OSError, websockets.ConnectionClosed) as exc:
            lost = lost or isinstance(exc, websockets.ConnectionClosed)
            if errors is not None:
                errors[what] = errors.get(what, 0) + 1
            return None

    async def open_meeting() -> None:
        nonlocal meeting_id, to_check
        meeting_id = await step("meeting.start", sim.start_meeting(
            "theme_day" if index % 3 else "general_meeting", f"第{index % 12 + 1}月主题党日"))
        to_check = list(branch.members) if meeting_id else []
        rng.shuffle(to_check)
        to_check = to_check[: rng.randint(0, len(to_check))]

    if live:
        await open_meeting()
    last_beat = 0.0
    while not stop.is_set():
        if lost:  # the hub dropped the socket: connect again, like the agent's uplink
            lost = False
            await step("reconnect", sim.connect())
            meeting_id, to_check = None, []
        now = time.monotonic()
        if now - last_beat >= heartbeat_s:
            await step("heartbeat", sim.heartbeat())
            last_beat = now
        await step("thumbnail", sim.thumbnail(jpeg))
        if meeting_id and to_check and rng.random() < 0.3:
            await step("checkin", sim.checkin(meeting_id, to_check.pop()))
        if churn and rng.random() < churn:
            if meeting_id:
                await step("meeting.end", sim.end_meeting(meeting_id))
                meeting_id, to_check = None, []
            else:
                await open_meeting()
        try:
            await asyncio.wait_for(stop.wait(), thumb_s)
        except TimeoutError:
            pass


def main_thread_totals(trace: Path, seconds: float, top: int = 15) -> list[tuple[str, float]]:
    """Where the renderer's main thread spent its time in a Chromium trace:
    ms per second of the window, by event name (nested events overlap)."""
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    main = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
            and e.get("args", {}).get("name") == "CrRendererMain"}
    totals: dict[str, float] = {}
    for e in events:
        if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) in main:
            totals[e["name"]] = totals.get(e["name"], 0.0) + e.get("dur", 0) / 1000
    return [(k, round(v / seconds, 1)) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:top]]


# ---- what the page shows: checks run inside the wall page ------------------
# Every tile inside the viewport (and not hidden), counted.
TILES_IN_VIEWPORT_JS = """() => {
  const w = window.innerWidth, h = window.innerHeight;
  const tiles = [...document.querySelectorAll('#view-wall .tile, .wall .tile')];
  const seen = new Set(); let inside = 0; const outside = [];
  for (const t of tiles) {
    if (seen.has(t)) continue; seen.add(t);
    const r = t.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= w + 0.5 && r.bottom <= h + 0.5) inside += 1;
    else if (outside.length < 5) outside.push([t.dataset.id, Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)]);
  }
  const wall = document.querySelector('.wall');
  return {tiles: seen.size, inside, outside, viewport: [w, h], mode: wall ? wall.dataset.mode : null,
          tile_px: seen.size ? [Math.round([...seen][0].getBoundingClientRect().width), Math.round([...seen][0].getBoundingClientRect().height)] : null,
          thumbs: wall ? wall.classList.contains('dense-thumbs') : false};
}"""

# Each group header's numbers against the tiles under it: a list of mismatches.
HEADER_COUNTS_JS = r"""() => {
  const bad = []; let groups = 0;
  for (const g of document.querySelectorAll('.wall section.group')) {
    const head = g.querySelector('.group-head');
    if (!head || head.hidden) continue;
    groups += 1;
    const tiles = [...g.querySelectorAll('.tiles > .tile')];
    const num = (el) => el ? Number((el.textContent.match(/\d+/) || ['NaN'])[0]) : 0;
    const check = (what, shown, real) => { if (shown !== real) bad.push(`${g.dataset.township} ${what}: header ${shown}, tiles ${real}`); };
    check('total', num(head.querySelector('.hc-total')), tiles.length);
    for (const s of ['live', 'stalled', 'scheduled', 'idle', 'offline']) {
      const el = head.querySelector(`.hc[data-state="${s}"]`);
      check(s, el ? Number(el.dataset.n) : 0, tiles.filter((t) => t.dataset.state === s).length);
      if (el) check(s + ' text', num(el.querySelector('.hn')), Number(el.dataset.n));
    }
    check('alerting', num(head.querySelector('.hc-alert')), tiles.filter((t) => t.classList.contains('alerting')).length);
  }
  return {groups, bad};
}"""

# Long tasks (> 50 ms) on the main thread, summed by a PerformanceObserver.
LONGTASKS_JS = """() => {
  window.__longtasks = {n: 0, ms: 0};
  new PerformanceObserver((list) => { for (const e of list.getEntries()) { window.__longtasks.n += 1; window.__longtasks.ms += e.duration; } })
    .observe({type: 'longtask'});
}"""


# ---- the benchmark -----------------------------------------------------------
def run_wall_bench(branches: int = 512, seconds: float = 30, *, townships: int = 16, live_share: float = 0.6,
                   members_per_branch: int = 6, viewport: tuple[int, int] = (3840, 2160), mode: str = "dense",
                   churn: float = 0.03, data_dir: str | None = None, keep: bool = False,
                   screenshot: str | None = None, trace: str | None = None) -> dict[str, Any]:
    """Measure the wall page with `branches` simulated halls for `seconds`.

    Returns main_thread_busy (share of wall time, target <= 0.20), long
    tasks, heap_mb, hub_bytes_per_s (WebSocket payload + HTTP bodies received
    from the hub), ws_messages_per_s, tiles shown and inside the viewport,
    the group-header checks (taken every second while the county changes)
    and the set-up times. `mode`: the wall's layout ("dense", "grouped",
    "auto"), chosen with one click on the page as an operator would."""
    from playwright.sync_api import sync_playwright

    tmp = Path(data_dir or tempfile.mkdtemp(prefix="wallbench-"))
    hub = HubProcess(tmp / "hub").start()
    edge = EdgeLoop()
    stop: asyncio.Event | None = None
    result: dict[str, Any] = {"branches": branches, "seconds": seconds, "viewport": list(viewport), "mode": mode}
    try:
        t0 = time.monotonic()
        client = admin_client(hub.url)
        try:
            seeded = seed_county(client, county_plan(branches, townships), members_per_branch, workers=4)
        finally:
            client.close()
        result["seed_s"] = round(time.monotonic() - t0, 1)

        async def connect_all() -> tuple[list[EdgeSim], asyncio.Event]:
            sem = asyncio.Semaphore(32)

            async def one(b: SeededBranch) -> EdgeSim:
                async with sem:
                    return await EdgeSim(hub.url, b.token).connect()

            return await asyncio.gather(*(one(b) for b in seeded)), asyncio.Event()

        t0 = time.monotonic()
        sims, stop = edge.run(connect_all(), timeout=300)
        live_n = int(branches * live_share)
        hall_errors: dict[str, int] = {}
        result["hall_errors"] = hall_errors
        lives = [edge.spawn(hall_life(s, b, i, live=i < live_n, stop=stop, churn=churn, errors=hall_errors))
                 for i, (s, b) in enumerate(zip(sims, seeded, strict=True))]
        result["connect_s"] = round(time.monotonic() - t0, 1)

        with sync_playwright() as pw:
            browser = pw.chromium.launch(**launch_args(str(tmp / "chromium")))
            try:
                context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                              bypass_csp=True)
                page = context.new_page()
                page.request.post(hub.url + "/api/v1/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD})
                page.goto(hub.url + "/ui/#/wall")
                page.wait_for_function(f"document.querySelectorAll('.tile').length >= {branches}", timeout=120_000)
                page.click(f'#wall-mode button[data-mode="{mode}"]')
                if mode != "auto":
                    page.wait_for_function(f"document.querySelector('.wall').dataset.mode === '{mode}'", timeout=30_000)
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                cdp.send("Network.enable")
                http_bytes = [0]
                cdp.on("Network.dataReceived", lambda e: http_bytes.__setitem__(0, http_bytes[0] + int(e.get("encodedDataLength") or e.get("dataLength") or 0)))
                page.wait_for_timeout(3000)  # settle: initial layout and thumbnails
                page.evaluate(LONGTASKS_JS)

                def sample() -> tuple[float, float, float, float, float]:
                    m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
                    c = page.evaluate("() => window.branchlive.feed.counters")
                    return time.monotonic(), m["TaskDuration"], m["JSHeapUsedSize"], float(c["bytes"]), float(c["messages"])

                if trace:
                    browser.start_tracing(page=page, categories=["devtools.timeline", "disabled-by-default-devtools.timeline"])
                w0, task0, _, b0, n0 = sample()
                h0 = http_bytes[0]
                page.wait_for_timeout(seconds * 1000)
                w1, task1, heap, b1, n1 = sample()
                if trace:
                    Path(trace).write_bytes(browser.stop_tracing())
                    result["trace_top"] = main_thread_totals(Path(trace), w1 - w0)
                h1 = http_bytes[0]
                longtasks = page.evaluate("() => window.__longtasks")
                # Then the headers, every second while the county keeps changing
                # (after the measured window: these probes cost the page too).
                checks, mismatches, groups = 0, [], 0
                for _ in range(max(5, int(seconds // 2))):
                    page.wait_for_timeout(1000)
                    heads = page.evaluate(HEADER_COUNTS_JS)
                    checks += 1
                    groups = heads["groups"]
                    mismatches += heads["bad"]
                placed = page.evaluate(TILES_IN_VIEWPORT_JS)
                if screenshot:
                    page.screenshot(path=screenshot)
                wall = w1 - w0
                result.update(
                    main_thread_busy=round((task1 - task0) / wall, 4),
                    longtask_share=round(longtasks["ms"] / 1000 / wall, 4),
                    longtasks=longtasks["n"],
                    heap_mb=round(heap / 2**20, 1),
                    ws_bytes_per_s=round((b1 - b0) / wall),
                    http_bytes_per_s=round((h1 - h0) / wall),
                    hub_bytes_per_s=round((b1 - b0 + h1 - h0) / wall),
                    ws_messages_per_s=round((n1 - n0) / wall, 1),
                    tiles=placed["tiles"],
                    tiles_inside=placed["inside"],
                    tiles_outside=placed["outside"],
                    tile_px=placed["tile_px"],
                    thumbnails=placed["thumbs"],
                    layout=placed["mode"],
                    header_checks=checks,
                    header_groups=groups,
                    header_mismatches=mismatches[:10],
                    live_tiles=page.evaluate("[...window.branchlive.feed.tiles.values()].filter(t => t.meeting).length"),
                    target_busy=0.20,
                )
                result["ok"] = result["main_thread_busy"] <= 0.20
                context.close()
            finally:
                browser.close()
        edge.loop.call_soon_threadsafe(stop.set)
        for f in lives:
            try:
                f.result(30)
            except Exception:  # noqa: BLE001 - a hall that failed does not spoil the numbers
                pass
        async def close_all() -> None:
            await asyncio.gather(*(s.close() for s in sims), return_exceptions=True)

        edge.run(close_all(), timeout=60)
    finally:
        edge.close()
        hub.stop()
        if not keep and data_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Measure the live wall with simulated halls.")
    ap.add_argument("--branches", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    a = ap.parse_args()
    print(json.dumps(run_wall_bench(a.branches, a.seconds, viewport=(a.width, a.height)), ensure_ascii=False, indent=2))
