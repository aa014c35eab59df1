"""Bad input gets clean problem details that say what to do."""

from __future__ import annotations

from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, publish, view, wait_for

SDP_HEADERS = {"Content-Type": "application/sdp", "Authorization": "Bearer dev-1"}


def assert_problem(r, status: int) -> dict:  # noqa: ANN001
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_malformed_and_huge_sdp_are_400(hub: Hub) -> None:
    r = await hub.client.post("/whip/1", content=b"hello", headers=SDP_HEADERS)
    assert "v=0" in assert_problem(r, 400)["detail"]
    r = await hub.client.post("/whip/1", content=b"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nxx",
                              headers=SDP_HEADERS)
    assert_problem(r, 400)
    r = await hub.client.post("/whip/1", content=b"v=0\r\n" + b"a=x\r\n" * 40000, headers=SDP_HEADERS)
    assert "bytes" in assert_problem(r, 400)["detail"]
    r = await hub.client.post("/whip/1", content=b"\xff\xfe", headers=SDP_HEADERS)
    assert_problem(r, 400)
    r = await hub.client.post("/whip/1", content=b"v=0", headers={**SDP_HEADERS, "Content-Type": "text/plain"})
    assert_problem(r, 415)


async def test_auth_errors(hub: Hub, h264_clip: Clip) -> None:
    r = await hub.client.post("/whip/1", content=b"v=0", headers={"Content-Type": "application/sdp"})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    r = await hub.client.post("/whip/1", content=b"v=0", headers={**SDP_HEADERS, "Authorization": "Bearer nope"})
    assert_problem(r, 401)
    r = await publish(hub.client, 2, "dev-1", h264_clip)  # dev-1 belongs to branch 1
    assert not isinstance(r, Publisher)
    assert "/whip/1" in assert_problem(r, 403)["detail"]


async def test_unrecordable_codec_is_415(hub: Hub, h264_clip: Clip) -> None:
    r = await publish(hub.client, 1, "dev-1", h264_clip,
                      offer_filter=lambda sdp: sdp.replace("H264/90000", "H265/90000"))
    assert not isinstance(r, Publisher)
    assert "H.264" in assert_problem(r, 415)["detail"]
    assert hub.plane.stream_state(1) == "offline"


async def test_viewer_errors(hub: Hub, h264_clip: Clip) -> None:
    r = await view(hub.client, 1, "alice")
    assert not isinstance(r, Publisher)
    assert_problem(r, 409)  # branch not live
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        assert_problem(await view(hub.client, 1, "carol"), 403)
        assert_problem(await view(hub.client, 1, "mallory"), 401)
        r = await hub.client.patch(pub.location, content=b"a=candidate",
                                   headers={"Content-Type": "application/trickle-ice-sdpfrag"})
        assert_problem(r, 401)  # who asks comes first
        r = await hub.client.patch(pub.location, content=b"a=candidate",
                                   headers={"Content-Type": "application/trickle-ice-sdpfrag",
                                            "Authorization": "Bearer dev-1"})
        assert "trickle" in assert_problem(r, 405)["detail"]
        r = await hub.client.delete(pub.location, headers={"Authorization": "Bearer dev-2"})
        assert_problem(r, 403)
        r = await hub.client.delete("/whip/1/nosuch", headers={"Authorization": "Bearer dev-1"})
        assert_problem(r, 404)
    finally:
        await pub.close()


async def test_admission_control_answers_503(hub: Hub, h264_clip: Clip) -> None:
    hub.plane.settings.max_publishers_per_process = 1
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        r = await publish(hub.client, 2, "dev-2", h264_clip)
        assert not isinstance(r, Publisher)
        assert "media.workers" in assert_problem(r, 503)["detail"]
        assert r.headers["retry-after"] == "10"
        again = await publish(hub.client, 1, "dev-1", h264_clip)  # a reboot still replaces
        assert isinstance(again, Publisher)
        await again.close()
    finally:
        await pub.close()
