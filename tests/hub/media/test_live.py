"""WHEP live view, talkback, publisher replacement, slow viewers, and a
publisher that vanishes, all with real aiortc peers on loopback."""

from __future__ import annotations

from hub.events import AlertRaised, KeyframeRequested, StreamStateChanged
from hub.media.branch import AUDIO_GROUP
from hub.media.fastpath import NativeSrtp
from hub.media.relay import RelayTrack
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, Viewer, publish, view, wait_for


async def test_viewer_receives_and_decodes_live_video(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    viewer = None
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        viewer = await view(hub.client, 1, "alice")
        assert isinstance(viewer, Viewer), viewer.text
        assert hub.plane.viewers(1) == 1
        await wait_for(lambda: viewer.frames >= 20 and viewer.audio_frames >= 20, what="decoded frames")
        assert viewer.width == 320
        # someone listens: the hall's sound is relayed frame by frame, not held for a group
        hall = hub.plane.engine.branch(1).publisher
        assert hall is not None and hall.audio is not None
        assert [t.group for t in hall.audio._native.values()] == [1]
        # what the viewer decoded was protected by the compiled SRTP calls (hub/media/_rx.c)
        (session,) = hub.plane.engine.branch(1).viewers.values()
        dtls = session.pc.getTransceivers()[0].sender.transport
        assert isinstance(dtls._tx_srtp, NativeSrtp), "the viewer's SRTP is pylibsrtp's cffi path"
        assert any(isinstance(e, KeyframeRequested) and e.branch_id == 1 for e in hub.events)
    finally:
        if viewer is not None:
            await viewer.close()
        await pub.close()
    await wait_for(lambda: hub.plane.viewers(1) == 0, what="viewer gone")
    actions = [a[1] for a in hub.auth.audits]
    assert "media.watch.start" in actions and "media.watch.stop" in actions
    assert [t.group for t in hall.audio._native.values()] == [AUDIO_GROUP]  # nobody listens


async def test_talkback_reaches_the_hall(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    viewer = None
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        viewer = await view(hub.client, 1, "bob", talk=True)
        assert isinstance(viewer, Viewer)
        # operator hears the hall, the hall hears the operator
        await wait_for(lambda: viewer.audio_frames >= 20, what="hall audio at operator")
        await wait_for(lambda: pub.talkback_frames >= 20, what="operator audio at hall")
        # ... protected by the compiled SRTP calls on the hall's connection
        hall = hub.plane.engine.branch(1).publisher
        assert hall is not None and hall.video is not None
        assert isinstance(hall.video.transport._tx_srtp, NativeSrtp)
        assert ("bob", "media.talkback.start", 1) in [a[:3] for a in hub.auth.audits]
        await viewer.close()
        viewer = None
        await wait_for(lambda: ("bob", "media.talkback.stop", 1) in [a[:3] for a in hub.auth.audits],
                       what="talkback stop audited")
    finally:
        if viewer is not None:
            await viewer.close()
        await pub.close()


async def test_one_operator_watches_many_branches(hub: Hub, h264_clip: Clip, vp8_clip: Clip) -> None:
    pubs = [await publish(hub.client, 1, "dev-1", h264_clip),
            await publish(hub.client, 2, "dev-2", vp8_clip)]
    viewers: list[Viewer] = []
    try:
        for branch in (1, 2):
            await wait_for(lambda b=branch: hub.plane.stream_state(b) == "live", what="live")
            v = await view(hub.client, branch, "alice")
            assert isinstance(v, Viewer)
            viewers.append(v)
        v2 = await view(hub.client, 1, "bob")
        assert isinstance(v2, Viewer)
        viewers.append(v2)
        await wait_for(lambda: all(v.frames >= 10 for v in viewers), what="all viewers decode")
        assert hub.plane.viewers(1) == 2 and hub.plane.viewers(2) == 1
    finally:
        for v in viewers:
            await v.close()
        for p in pubs:
            assert isinstance(p, Publisher)
            await p.close()


async def test_new_publisher_from_same_device_replaces_old(hub: Hub, h264_clip: Clip) -> None:
    first = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(first, Publisher)
    second = viewer = None
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        viewer = await view(hub.client, 1, "alice")
        assert isinstance(viewer, Viewer)
        await wait_for(lambda: viewer.frames >= 5, what="frames from the first publisher")
        # another device of the same branch may not take over
        other = await publish(hub.client, 1, "dev-1-spare", h264_clip)
        assert not isinstance(other, Publisher) and other.status_code == 409
        second = await publish(hub.client, 1, "dev-1", h264_clip)  # the edge rebooted
        assert isinstance(second, Publisher)
        await wait_for(lambda: first.pc.connectionState == "closed", what="old publisher closed")
        assert hub.plane.engine.branch(1).publisher.session_id in second.location
        seen = viewer.frames
        await wait_for(lambda: viewer.frames >= seen + 20, what="viewer continues on new publisher")
        assert hub.plane.stream_state(1) == "live"
    finally:
        if viewer is not None:
            await viewer.close()
        await first.close()
        if isinstance(second, Publisher):
            await second.close()


async def test_slow_viewer_does_not_slow_another(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    fast = slow = None
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        fast = await view(hub.client, 1, "alice")
        slow = await view(hub.client, 1, "bob")
        assert isinstance(fast, Viewer) and isinstance(slow, Viewer)
        await wait_for(lambda: fast.frames >= 5 and slow.frames >= 5, what="both viewing")
        # Stall bob's sending side: his relay track is no longer drained, as
        # when his connection cannot keep up.
        session = next(v for v in hub.plane.engine.branch(1).viewers.values() if v.user == "bob")
        stuck = RelayTrack("video", hub.plane.settings.viewer_queue_frames,
                           lambda: hub.plane.request_keyframe(1))
        session.video = stuck
        base = fast.frames
        await wait_for(lambda: stuck.dropped > 0, what="slow viewer drops")
        await wait_for(lambda: fast.frames >= base + 3 * hub.plane.settings.viewer_queue_frames,
                       what="fast viewer keeps going")
        assert len(stuck._queue) <= hub.plane.settings.viewer_queue_frames
        assert hub.plane.engine.branch(1).video_frames > 0
        stuck.stop()
    finally:
        for v in (fast, slow):
            if isinstance(v, Viewer):
                await v.close()
        await pub.close()


async def test_publisher_that_goes_silent_is_dropped(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        # the encoder dies; the connection (ICE consent) stays up
        pub.video.stop()
        assert pub.audio is not None
        pub.audio.stop()
        await wait_for(lambda: hub.plane.stream_state(1) == "stalled", what="stalled")
        await wait_for(lambda: hub.plane.stream_state(1) == "offline", what="offline")
        assert hub.plane.engine.branch(1).publisher is None
        assert any(isinstance(e, AlertRaised) and e.kind == "publisher_lost" for e in hub.events)
        states = [e.state for e in hub.events if isinstance(e, StreamStateChanged) and e.branch_id == 1]
        assert states[-3:] == ["live", "stalled", "offline"]
    finally:
        await pub.close()
