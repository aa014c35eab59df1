"""The kiosk page in real Chromium at the sizes of a hall's kiosk screen:
the status pill is not green while a device fault is shown, and the 管理
button does not cover the count (实到 / 应到)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from branchlive.wall_sim import CHROMIUM, launch_args
from devices.agent.hall import Hall
from devices.agent.meeting import MeetingDesk
from devices.agent.outbox import Outbox
from devices.agent.roster import RosterCache, SlotMap
from devices.agent.store import Store
from devices.kiosk.app import create_kiosk_app
from tests.devices.kiosk.conftest import PIN, FakeReader, roster

SIZES = [(800, 480), (1024, 600), (1280, 800)]  # 7", 10.1" kiosk panels, and a 16:10 tablet
GREEN, AMBER, RED = "rgb(10, 125, 40)", "rgb(179, 92, 0)", "rgb(176, 0, 32)"
FAULT = {"code": "camera_lost", "zh": "摄像头无画面，正在重连；请检查摄像头电源和网线", "en": "camera lost"}


class Served:
    def __init__(self, hall: Hall, uplink: dict[str, Any], url: str) -> None:
        self.hall, self.uplink, self.url = hall, uplink, url


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    store = await Store.open(tmp_path / "agent.db")
    outbox = Outbox(store)
    cache = RosterCache(store)
    await cache.replace(roster())
    desk = MeetingDesk(store, outbox, cache, SlotMap(store))
    uplink: dict[str, Any] = {"state": "online", "error": None, "faults": []}
    hall = Hall(desk, outbox, reader=FakeReader(), uplink_status=lambda: dict(uplink))
    closing = asyncio.Event()
    app = create_kiosk_app(hall, admin_pin=PIN, closing=closing)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    try:
        yield Served(hall, uplink, f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        closing.set()
        hall.changes.notify()
        server.should_exit = True
        await task
        await store.close()


async def pill(page: Any) -> tuple[str, str]:
    return tuple(await page.evaluate("""() => { const u = document.getElementById('uplink');
        return [u.className, getComputedStyle(u).backgroundColor]; }"""))  # type: ignore[return-value]


async def clear_of_the_count(page: Any) -> None:
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        boxes = await page.evaluate("""() => Object.fromEntries(['admin-open', 'count', 'uplink', 'lang']
            .map(id => { const r = document.getElementById(id).getBoundingClientRect();
                         return [id, [r.left, r.top, r.right, r.bottom]]; }))""")
        a, c = boxes["admin-open"], boxes["count"]
        overlap = a[0] < c[2] and c[0] < a[2] and a[1] < c[3] and c[1] < a[3]
        assert not overlap, (width, height, boxes)
        for name, (left, top, right, bottom) in boxes.items():
            assert 0 <= left and right <= width and 0 <= top and bottom <= height, (width, height, name, boxes)
        # the header stays a header: the meeting's type on one line, the prompt keeps the screen
        header = await page.evaluate("""() => [document.querySelector('header').getBoundingClientRect().height,
            document.querySelector('#meeting > span').getBoundingClientRect().height,
            parseFloat(getComputedStyle(document.querySelector('header')).fontSize)]""")
        assert header[1] < 2 * header[2] and header[0] < 0.25 * height, (width, height, header)


async def test_fault_turns_the_pill_amber_and_the_admin_button_leaves_the_count_clear(served: Served) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch_args(""))
        try:
            page = await browser.new_page(viewport={"width": SIZES[0][0], "height": SIZES[0][1]}, locale="zh-CN")
            await page.goto(served.url + "/")
            await page.wait_for_function("() => document.getElementById('uplink').textContent.includes('在线')")
            assert await pill(page) == ("online", GREEN)

            # a device fault: shown on the pill, which is no longer green
            served.uplink["faults"] = [FAULT]
            served.hall.changes.notify()
            await page.wait_for_function("() => document.getElementById('uplink').textContent.includes('⚠')")
            assert await pill(page) == ("online fault", AMBER)
            # the page as the agent serves it, before any script runs, says the same
            served_html = await (await page.request.get(served.url + "/")).text()
            assert '<div id="uplink" class="online fault">在线 · ⚠ 摄像头无画面' in served_html
            await page.reload()
            assert await pill(page) == ("online fault", AMBER)
            served.uplink.update(state="offline", faults=[FAULT])
            served.hall.changes.notify()
            await page.wait_for_function("() => document.getElementById('uplink').className === 'offline'")
            assert (await pill(page))[1] == RED
            served.uplink.update(state="online", faults=[])
            served.hall.changes.notify()
            await page.wait_for_function("() => document.getElementById('uplink').className === 'online'")
            assert (await pill(page))[1] == GREEN

            # 管理 never covers the count, and stays on the screen, at each kiosk size,
            # with no meeting (the count at the bottom) and during one
            await clear_of_the_count(page)
            await served.hall.desk.start_meeting("committee", "十一月支委会：研究发展党员和冬季村庄环境整治工作安排")
            await page.wait_for_function("() => !document.getElementById('attendance').hidden")
            await clear_of_the_count(page)
            served.uplink["faults"] = [FAULT]  # a long fault text on the pill, with the long topic
            served.hall.changes.notify()
            await page.wait_for_function("() => document.getElementById('uplink').textContent.includes('⚠')")
            await clear_of_the_count(page)
            await page.click("#admin-open")
            await page.wait_for_selector("#pin", state="visible")
        finally:
            await browser.close()
