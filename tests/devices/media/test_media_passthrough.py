"""RTSP pass-through: the camera's H.264 reaches the receiver and no encoder runs on the edge."""

from __future__ import annotations

import av
import pytest
from aiortc.codecs import h264, vpx
from pydantic import SecretStr

from devices.camera import CaptureSource, EncodedPacketBackend
from devices.media import Publisher, PublisherSettings, PublisherState, VideoEncoder
from devices.media.tracks import PassthroughVideoTrack
from firmware_stubs.camera import CameraEmulator, EmulatorSettings
from tests.devices.media.whip_receiver import WhipReceiver, wait_for


async def test_rtsp_passthrough_sends_without_encoding(
    receiver: WhipReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = CameraEmulator(EmulatorSettings(http_port=0, rtsp_port=0))
    await camera.start()

    # The emulator encodes in its own thread before we patch; from here on
    # any encoder on the edge side is a failure.
    encoder_calls: list[str] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        encoder_calls.append(type(args[0]).__name__)
        raise AssertionError("an encoder ran in pass-through mode")

    monkeypatch.setattr(h264.H264Encoder, "encode", forbidden)
    monkeypatch.setattr(vpx.Vp8Encoder, "encode", forbidden)
    monkeypatch.setattr(VideoEncoder, "encode", forbidden)
    packed = {"n": 0}
    original_pack = h264.H264Encoder.pack

    def counting_pack(self: h264.H264Encoder, packet: av.Packet) -> tuple[list[bytes], int]:
        packed["n"] += 1
        return original_pack(self, packet)

    monkeypatch.setattr(h264.H264Encoder, "pack", counting_pack)

    source = CaptureSource(lambda: EncodedPacketBackend(camera.rtsp_url))
    await source.start()
    tracks: list[PassthroughVideoTrack] = []

    def make_track() -> PassthroughVideoTrack:
        tracks.append(PassthroughVideoTrack(source))
        return tracks[-1]

    pub = Publisher(PublisherSettings(whip_url=receiver.url, token=SecretStr("device-token")),
                    video_track=make_track, video_codecs=("h264",))
    try:
        await pub.start()
        await wait_for(lambda: pub.state == PublisherState.PUBLISHING, what="PUBLISHING")
        await wait_for(lambda: receiver.video_frames > 20, what="decoded pass-through frames")
        assert packed["n"] > 20
        assert encoder_calls == []
        assert tracks[0].keyframes_sent >= 1
        assert receiver.sessions[0].widths == {640}
        # a keyframe request cannot force the camera; it is counted, nothing breaks
        pub.request_keyframe()
        assert tracks[0].keyframe_requests == 1
    finally:
        await pub.stop()
        await source.stop()
        await camera.stop()
