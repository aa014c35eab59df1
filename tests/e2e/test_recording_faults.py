"""A county can trust its recordings: the real edge agent against the real
hub (in a network namespace, `recordings/` on a tmpfs of its own, so every
backfilled segment crosses filesystems), through outages, a hub killed with
SIGKILL and a recordings disk that fills up and is freed. After backfill:

- covered seconds >= meeting length - 2 s,
- no second is played twice by the playlist,
- every stored segment decodes with PyAV,
- the export holds video and audio over the whole meeting (ffprobe).

`tc netem` is not available in this kernel (no sch_netem module, no tc
actions): steady loss and delay go through a user-space forwarder between
two TUN devices (tests/e2e/lossylink.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from devices.agent.uplink import UplinkState
from devices.media.publisher import PublisherState
from tests.devices.agent.conftest import eventually
from tests.e2e.lossylink import LossyLink
from tests.e2e.test_edge_media import (
    ADMIN_PASSWORD,
    HUB_PORT,
    HubLink,
    agent,
    build_branch,
    kiosk,
    pytestmark,  # noqa: F401 - root, namespaces, slow
    wait_hub,
)

MB = 1024 * 1024


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Hub:
    """`branchlive hub` in the namespace; start() again after kill() (same data)."""

    def __init__(self, link: HubLink | LossyLink, data_dir: Path, env: dict[str, str]) -> None:
        self.link, self.data_dir, self.env = link, data_dir, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://{link.hub_ip}:{HUB_PORT}"

    async def start(self) -> None:
        env = dict(os.environ, BRANCHLIVE_ADMIN_PASSWORD=ADMIN_PASSWORD,
                   BRANCHLIVE_MEDIA__ICE_HOST_ADDRESSES=f'["{self.link.hub_ip}"]', **self.env)
        log = open(self.data_dir.parent / "hub.log", "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.link.ns, sys.executable, "-m", "branchlive.cli", "hub",
             "--host", self.link.hub_ip, "--port", str(HUB_PORT), "--data-dir", str(self.data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
        log.close()
        await wait_hub(self.base)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)  # `ip netns exec` execs the hub: this is its pid
        self.proc.wait(20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.asynccontextmanager
async def county(tmp_path: Path, *, recordings_mb: int = 512, env: dict[str, str] | None = None,
                 link: HubLink | LossyLink | None = None,
                 ) -> AsyncIterator[tuple[Any, Hub, dict[str, Any]]]:  # the link: HubLink unless given
    link = link or HubLink()
    link.up()
    data = tmp_path / "hub"
    try:
        with tmpfs(data / "recordings", recordings_mb):
            # no emergency clean-up on this small disk (it would delete the meeting under test)
            hub = Hub(link, data, {"BRANCHLIVE_MEDIA__MIN_FREE_BYTES": "0", **(env or {})})
            try:
                await hub.start()
                yield link, hub, await build_branch(hub.base)
            finally:
                await asyncio.to_thread(hub.stop)  # off the loop: other halls are on the air
    finally:
        link.down()


async def settle(app: Any) -> None:
    """Until the hall holds nothing more for the hub: every local segment
    confirmed by the hub's coverage or uploaded and accepted."""
    def settled() -> bool:
        counts = app.segments.counts()
        return (app.media.recorder is None and not counts.get("pending") and not counts.get("held")
                and app.backfill.state == "idle")

    try:
        await eventually(settled, 240)
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"the hall still holds {app.segments.counts()}: {app.backfill.status()}, "
                             f"recorder {app.media.recorder}") from exc
    assert app.segments.counts() == {}, app.segments.counts()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def assert_whole(hub: Hub, headers: dict[str, str], meeting_id: str, tmp_path: Path) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.base, timeout=120) as c:
        meeting = (await c.get(f"/api/v1/meetings/{meeting_id}", headers=headers)).json()
        rec = (await c.get(f"/api/v1/meetings/{meeting_id}/recording", headers=headers)).json()
        export = await c.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=headers)
        playlist = await c.get(f"/api/v1/meetings/{meeting_id}/playlist.m3u8", headers=headers)
    length = _ts(meeting["ended_at"]) - _ts(meeting["started_at"])
    summary = {k: rec[k] for k in ("covered_seconds", "stored_seconds", "seconds_played_twice",
                                   "overlap_seconds", "segments_rejected", "duplicates_dropped")}
    summary.update(length=round(length, 1), gaps=rec["gaps"],
                   sources=[s["source"] for s in rec["segments"] if s["played"]])
    t0 = _ts(meeting["started_at"])
    summary["timeline"] = [f"{_ts(s['started_at']) - t0:7.2f} +{s['duration']:5.2f} {s['source']}"
                           f"{' played' if s['played'] else ''}" for s in rec["segments"]]
    print(json.dumps(summary, indent=1))
    assert rec["covered_seconds"] >= length - 2.0, summary
    assert rec["seconds_played_twice"] == 0, summary
    assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
    files = sorted((tmp_path / "hub" / "recordings").glob(f"*/{meeting_id}/*.mp4"))
    assert len(files) == len(rec["segments"])
    for path in files:  # every segment decodes, every frame of it
        with av.open(str(path)) as f:
            assert f.streams.video and f.streams.audio, path.name
            assert sum(1 for _ in f.decode(video=0)) > 0
    assert export.status_code == 200, export.text
    out = tmp_path / "export.mp4"
    out.write_bytes(export.content)
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json", str(out)],
        check=True, capture_output=True).stdout)
    durations = {s["codec_type"]: float(s["duration"]) for s in probe["streams"]}
    assert set(durations) == {"video", "audio"}, probe
    assert durations["video"] >= length - 2.0 and durations["audio"] >= length - 2.0, (durations, length)
    return rec


async def run_meeting(app: Any, hub: Hub, c: dict[str, Any], seconds: float,
                      during: Any = None) -> str:
    async with kiosk(app) as k:
        r = await k.post("/api/admin/meeting/start", json={"meeting_type": "theme_day", "topic": "录像"})
        assert r.status_code == 200 or r.status_code == 201, r.text
        meeting_id = str(r.json()["meeting_id"])
        started = time.monotonic()
        await eventually(lambda: app.media.recorder is not None, 30)
        if during is not None:
            await during()
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
        await eventually(lambda: app.media.publisher.state is PublisherState.PUBLISHING, 120)
        await asyncio.sleep(8)  # a stretch on the air again before the end
        r = await k.post("/api/admin/meeting/end", json={})
        assert r.status_code == 200, r.text
    return meeting_id


async def steady_loss_and_delay(tmp_path: Path) -> None:
    """(a) 10 % of the packets lost and every other one 100 ms late, both ways,
    for the whole 80 s meeting; the link is clean again for the backfill."""
    link = LossyLink(loss=0.10, delay=0.100)
    async with county(tmp_path, link=link) as (_, hub, c), agent(tmp_path, hub.base, c["code"]) as app:
        meeting_id = await run_meeting(app, hub, c, 80)
        link.heal()
        await settle(app)
        await assert_whole(hub, c["headers"], meeting_id, tmp_path)
        fps = app.settings.video_fps
    # and whole frame by frame: a lost packet's retransmission (NACK) comes within the
    # hold (hub/media/assembler.py PacketHold); without it 10 % loss kept ~55 % of them
    with av.open(str(tmp_path / "export.mp4")) as f:
        stream = f.streams.video[0]
        seconds = float(stream.duration * stream.time_base)
        frames = sum(1 for _ in f.decode(video=0))
    print(f"lossy link: {frames} frames in {seconds:.1f} s, {frames / seconds:.2f} fps of {fps}")
    assert frames >= 0.75 * fps * seconds, (frames, seconds, fps)


# ---- (b) to (f): a hall holds two meetings in turn, one fault each ----------
# Two halls (one with the link faults, one with the hub faults) each hold meeting
# after meeting on the same agent and hub; every scenario is asserted whole,
# after its own backfill. `recordings/` is a tmpfs of its own throughout (f):
# every backfilled segment crosses filesystems.

async def ten_short_cuts(link: HubLink, hub: Hub, c: dict[str, Any], app: Any, tmp_path: Path) -> None:
    """(b) ten 5 s cuts of the hall's link."""
    async def cuts() -> None:
        for _ in range(10):
            await asyncio.sleep(5)
            link.cut()
            await asyncio.sleep(5)
            link.restore()

    meeting_id = await run_meeting(app, hub, c, 100, cuts)
    await settle(app)
    rec = await assert_whole(hub, c["headers"], meeting_id, tmp_path)
    assert sum(s["duration"] for s in rec["segments"] if s["source"] == "backfill" and s["played"]) >= 40


async def a_60_s_cut(link: HubLink, hub: Hub, c: dict[str, Any], app: Any, tmp_path: Path) -> None:
    """(c) the hall's link is down for a minute; members check in on the kiosk
    during the cut (and one before it): no check-in is lost."""
    async def cut() -> None:
        async with kiosk(app) as k:
            r = await k.post("/api/admin/checkin", json={"member_id": str(c["members"]["张三"]),
                                                         "reason": "手指受伤"})
            assert r.status_code == 201, r.text
            await asyncio.sleep(5)
            link.cut()
            cut_at = time.monotonic()
            await eventually(lambda: app.uplink.state is not UplinkState.ONLINE, 60)
            for name in ("李四", "王五"):
                r = await k.post("/api/admin/checkin", json={"member_id": str(c["members"][name]),
                                                             "reason": "离线代签"})
                assert r.status_code == 201, r.text
            await asyncio.sleep(max(0.0, 60 - (time.monotonic() - cut_at)))
            link.restore()

    meeting_id = await run_meeting(app, hub, c, 70, cut)
    await settle(app)
    rec = await assert_whole(hub, c["headers"], meeting_id, tmp_path)
    assert sum(s["duration"] for s in rec["segments"] if s["source"] == "backfill") >= 55
    async with httpx.AsyncClient(base_url=hub.base, timeout=10) as client:
        rows = (await client.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=c["headers"])).json()
    assert sorted(row["name"] for row in rows) == ["张三", "李四", "王五"]


async def hub_killed(link: HubLink, hub: Hub, c: dict[str, Any], app: Any, tmp_path: Path) -> None:
    """(d) the hub is killed with SIGKILL mid-meeting and started again."""
    async def kill() -> None:
        await asyncio.sleep(10)
        hub.kill()
        await asyncio.sleep(5)
        await hub.start()

    meeting_id = await run_meeting(app, hub, c, 35, kill)
    await settle(app)
    rec = await assert_whole(hub, c["headers"], meeting_id, tmp_path)
    assert any(s["source"] == "backfill" for s in rec["segments"])


async def disk_full_for_45_s(link: HubLink, hub: Hub, c: dict[str, Any], app: Any, tmp_path: Path) -> None:
    """(e) the hub's recordings disk fills up for 45 s, then space returns:
    recording resumes by itself, the hall keeps its copy until then."""
    filler = tmp_path / "hub" / "recordings" / "filler"

    async def fill() -> None:
        await asyncio.sleep(5)
        await asyncio.to_thread(  # stops at ENOSPC: the disk is full
            subprocess.run, ["dd", "if=/dev/zero", f"of={filler}", "bs=1M", f"count={2 * RECORDINGS_MB}"],
            capture_output=True)
        await asyncio.sleep(45)
        filler.unlink()

    meeting_id = await run_meeting(app, hub, c, 60, fill)
    await settle(app)
    rec = await assert_whole(hub, c["headers"], meeting_id, tmp_path)
    kinds = {i["kind"] for i in rec["incidents"]}
    assert "disk_full" in kinds, rec["incidents"]


RECORDINGS_MB = 96


async def meetings_in_turn(tmp_path: Path, scenarios: tuple[Any, ...]) -> None:
    """One hub and one hall through `scenarios`, each a meeting of its own,
    with (f) throughout."""
    env = {"BRANCHLIVE_MEDIA__STOP_RECORDING_FREE_BYTES": str(2 * MB)}
    async with county(tmp_path, recordings_mb=RECORDINGS_MB, env=env) as (link, hub, c), \
            agent(tmp_path, hub.base, c["code"]) as app:
        data = tmp_path / "hub"
        assert (data / "recordings").stat().st_dev != (data / "uploads").stat().st_dev  # (f)
        for scenario in scenarios:
            print(f"-- {tmp_path.name}: {scenario.__name__}")
            await scenario(link, hub, c, app, tmp_path)


@pytest.mark.timeout(1200)
async def test_three_halls_through_loss_cuts_a_hub_kill_and_a_full_disk(tmp_path: Path) -> None:
    """Three halls on the air at once, as on a county's theme day, each with a
    hub and a link of its own: (a) on a lossy link; (b) then (c) on a link that
    is cut; (d) then (e) on a hub that is killed and whose disk fills (last:
    it fills that hub's recordings disk). One hall's failure cancels the others."""
    halls = {"lossy": None, "cut": (ten_short_cuts, a_60_s_cut), "hub": (hub_killed, disk_full_for_45_s)}
    async with asyncio.TaskGroup() as group:
        for name, scenarios in halls.items():
            (tmp_path / name).mkdir()
            group.create_task(steady_loss_and_delay(tmp_path / name) if scenarios is None
                              else meetings_in_turn(tmp_path / name, scenarios), name=name)
