"""Live views on the real hub (real auth, real server, real WebRTC on
loopback): a viewer's WHEP session carries no talkback, an operator's does,
and signing out ends the operator's live view."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from hub.config import Settings
from hub.media.ice import offer_host_addresses
from tests.hub.conftest import ADMIN_PASSWORD, OPERATOR_PASSWORD, build_county, login
from tests.hub.liveserver import LiveHub
from tests.hub.media.peers import Clip, Publisher, loopback_config, publish, wait_for


def audio_direction(sdp: str) -> str:
    section = sdp.split("m=audio", 1)[1].split("\nm=", 1)[0]
    return next(d for d in ("sendrecv", "sendonly", "recvonly", "inactive") if f"a={d}" in section)


async def talk_view(http: httpx.AsyncClient, branch_id: int, headers: dict[str, str]) -> tuple[RTCPeerConnection, httpx.Response]:
    """A WHEP viewer that offers its microphone (sendrecv audio), as the dashboard does for talkback."""
    pc = RTCPeerConnection(loopback_config())
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    offer_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    r = await http.post(f"/whep/{branch_id}", content=pc.localDescription.sdp.encode(),
                        headers={**headers, "Content-Type": "application/sdp"})
    if r.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
    return pc, r


async def test_viewer_has_no_talkback_and_logout_ends_the_view(tmp_path: Path, h264_clip: Clip) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                        admin_password=ADMIN_PASSWORD,
                        media={"enabled": True, "ice_host_addresses": ["127.0.0.1"], "min_free_bytes": 0,
                               "stop_recording_free_bytes": 0})  # type: ignore[arg-type]
    hub = LiveHub(settings)
    await asyncio.to_thread(hub.__enter__)
    peers: list[RTCPeerConnection] = []
    pub: Publisher | httpx.Response | None = None
    try:
        def setup() -> tuple[object, dict[str, str]]:
            with httpx.Client(base_url=hub.url, timeout=60) as c:
                county = build_county(c)  # type: ignore[arg-type]
                r = c.post("/api/v1/operators", headers=county.admin, json={
                    "username": "watcher", "password": OPERATOR_PASSWORD, "role": "viewer",
                    "scope_id": county.townships["东城镇"]})
                assert r.status_code == 201, r.text
                return county, login(c, "watcher", OPERATOR_PASSWORD)  # type: ignore[arg-type]

        county, viewer = await asyncio.to_thread(setup)
        branch = county.branches["东城一村"]  # type: ignore[attr-defined]
        media = hub.app.state.ctx.media
        async with httpx.AsyncClient(base_url=hub.url, timeout=60) as http:
            pub = await publish(http, branch, county.tokens["东城一村"], h264_clip)  # type: ignore[attr-defined]
            assert isinstance(pub, Publisher), pub.text  # type: ignore[union-attr]
            await wait_for(lambda: media.stream_state(branch) == "live", what="live")

            pc, r = await talk_view(http, branch, viewer)
            peers.append(pc)
            assert r.status_code == 201, r.text
            assert audio_direction(r.text) == "sendonly"  # hall audio to the viewer only, no microphone back
            session = media.engine.branches[branch].viewers[r.headers["location"].rsplit("/", 1)[1]]
            assert session.mic is None and not session.can_talk

            operator = county.operators["东城镇"]  # type: ignore[attr-defined]
            pc2, r2 = await talk_view(http, branch, operator)
            peers.append(pc2)
            assert r2.status_code == 201, r2.text
            assert audio_direction(r2.text) == "sendrecv"
            await wait_for(lambda: pub.talkback_frames >= 20, what="the operator's voice at the hall")  # type: ignore[union-attr]
            operator_session = r2.headers["location"].rsplit("/", 1)[1]
            assert operator_session in media.engine.branches[branch].viewers

            # Signing out ends the operator's live view (and not the viewer's).
            assert (await http.post("/api/v1/auth/logout", headers=operator)).status_code == 204
            await wait_for(lambda: operator_session not in media.engine.branches[branch].viewers,
                           what="the live view closed after logout")
            assert session.session_id in media.engine.branches[branch].viewers
            talkers: set[str] = set()
            while "dongcheng" not in talkers:  # the audit entry is written off the loop
                r = await http.get("/api/v1/audit", headers=county.admin, params={"limit": 500})  # type: ignore[attr-defined]
                talkers = {e["actor"] for e in r.json() if e["action"] == "media.talkback.start"}
                await asyncio.sleep(0.05)
            assert "watcher" not in talkers
    finally:
        for pc in peers:
            await pc.close()
        if isinstance(pub, Publisher):
            await pub.close()
        await asyncio.to_thread(hub.__exit__, None, None, None)
