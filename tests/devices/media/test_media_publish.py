"""Publishing over WHIP to a real aiortc receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from devices.camera import CaptureSource, PatternBackend, ToneBackend
from devices.media import (
    EncodedVideoTrack,
    EncoderSettings,
    EnergySink,
    Publisher,
    PublisherSettings,
    PublisherState,
    SourceAudioTrack,
    VideoEncoder,
)
from tests.devices.media.whip_receiver import WhipReceiver, wait_for


@pytest.fixture
async def sources() -> AsyncIterator[tuple[CaptureSource, CaptureSource]]:
    video = CaptureSource(lambda: PatternBackend(640, 360, 15))
    audio = CaptureSource(ToneBackend)
    await video.start()
    await audio.start()
    yield video, audio
    await video.stop()
    await audio.stop()


def settings(url: str, token: str = "device-token", **kw: object) -> PublisherSettings:
    base: dict[str, object] = dict(whip_url=url, token=SecretStr(token), media_timeout_s=3.0,
                                   backoff_base_s=0.2, backoff_cap_s=1.0)
    base.update(kw)
    return PublisherSettings(**base)  # type: ignore[arg-type]


def make_publisher(url: str, video: CaptureSource, audio: CaptureSource | None, *, codec: str = "h264",
                   sink: EnergySink | None = None, **kw: object) -> tuple[Publisher, VideoEncoder]:
    encoder = VideoEncoder(EncoderSettings(codec=codec))  # type: ignore[arg-type]
    states: list[PublisherState] = []
    pub = Publisher(
        settings(url, **kw),
        video_track=lambda: EncodedVideoTrack(video, encoder),
        audio_track=(lambda: SourceAudioTrack(audio)) if audio is not None else None,
        video_codecs=(codec,),
        talkback_sink=sink,
        on_state=lambda st: states.append(st.state),
    )
    pub.states = states  # type: ignore[attr-defined]
    return pub, encoder


async def test_publish_h264_with_audio_and_talkback(receiver: WhipReceiver, sources) -> None:
    video, audio = sources
    sink = EnergySink()
    pub, encoder = make_publisher(receiver.url, video, audio, sink=sink)
    await pub.start()
    await wait_for(lambda: pub.state == PublisherState.PUBLISHING, what="PUBLISHING")
    await wait_for(lambda: receiver.video_frames > 20, what="decoded video frames")
    session = receiver.sessions[0]
    await wait_for(lambda: session.audio_frames > 20, what="Opus audio at the receiver")
    await wait_for(lambda: sink.loud_frames > 10, what="talkback audio at the hall")
    assert session.widths == {640}
    assert pub.status.codec == "h264"
    assert pub.status.resource_url == f"{receiver.url}/{session.id}"
    await pub.stop()
    assert pub.state == PublisherState.STOPPED
    assert session.deleted and receiver.deletes == 1
    assert pub.states[:2] == [PublisherState.CONNECTING, PublisherState.PUBLISHING]  # type: ignore[attr-defined]
    assert encoder.frames_in > 20


async def test_publish_vp8(receiver: WhipReceiver, sources) -> None:
    video, _ = sources
    pub, _ = make_publisher(receiver.url, video, None, codec="vp8")
    await pub.start()
    await wait_for(lambda: receiver.video_frames > 20, what="decoded VP8 frames")
    assert pub.status.codec == "vp8"
    await pub.stop()


async def test_keyframe_on_request_and_on_pli(receiver: WhipReceiver, sources) -> None:
    video, _ = sources
    pub, encoder = make_publisher(receiver.url, video, None)
    await pub.start()
    await wait_for(lambda: receiver.video_frames > 5, what="first frames")
    session = receiver.sessions[0]
    track = pub.video_track
    forced, keys = encoder.forced_keyframes, session.video_keyframes
    pub.request_keyframe()  # the agent core relays the hub's request
    await wait_for(lambda: encoder.forced_keyframes > forced, what="forced keyframe")
    await wait_for(lambda: session.video_keyframes > keys, what="keyframe decoded at the receiver")
    requests = track.keyframe_requests
    await session.send_pli()  # the hub asks in-band (RTCP PLI)
    await wait_for(lambda: track.keyframe_requests > requests, what="PLI reaching the track")
    await wait_for(lambda: encoder.forced_keyframes > forced + 1, what="keyframe after PLI")
    await pub.stop()


async def test_reconnects_after_receiver_restart(sources) -> None:
    video, _ = sources
    first = WhipReceiver()
    await first.start()
    port = first.port
    pub, _ = make_publisher(first.url, video, None)
    await pub.start()
    try:
        await wait_for(lambda: first.video_frames > 10, what="frames at the first receiver")
        await first.stop()  # hub crashes
        await wait_for(lambda: pub.state == PublisherState.RECONNECTING, what="RECONNECTING")
        second = WhipReceiver(port=port)
        await second.start()  # hub is back on the same address
        try:
            await wait_for(lambda: second.video_frames > 10, timeout=60, what="frames after restart")
            assert pub.state == PublisherState.PUBLISHING
            assert pub.status.sessions == 2
            assert pub.status.last_error == ""
        finally:
            await pub.stop()
            await second.stop()
    finally:
        await pub.stop()


async def test_refused_token_is_reported_and_not_hammered(receiver: WhipReceiver, sources) -> None:
    video, _ = sources
    pub, _ = make_publisher(receiver.url, video, None, token="wrong", auth_retry_s=300.0)
    await pub.start()
    await wait_for(lambda: pub.status.token_rejected, what="token_rejected")
    assert pub.state == PublisherState.RECONNECTING
    assert pub.status.retry_in_s == 300.0
    assert "device token" in pub.status.last_error
    assert receiver.refused == 1 and receiver.posts == 0
    pub.update_token("device-token")  # re-provisioned: retry at once
    await wait_for(lambda: pub.state == PublisherState.PUBLISHING, what="PUBLISHING with new token")
    assert not pub.status.token_rejected
    await pub.stop()


async def test_follows_307_redirect(receiver: WhipReceiver, sources) -> None:
    video, _ = sources
    pub, _ = make_publisher(receiver.redirect_url, video, None)
    await pub.start()
    await wait_for(lambda: receiver.video_frames > 5, what="frames via redirect")
    assert pub.status.resource_url is not None
    assert pub.status.resource_url.startswith(receiver.url + "/")
    await pub.stop()
    assert receiver.deletes == 1
