"""The encode-once VideoEncoder: GOP bound, forced keyframes, sizes, settings validation."""

from __future__ import annotations

import time

import pytest

from devices.camera import render_pattern
from devices.media import EncoderSettings, VideoEncoder


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_keyframe_every_gop_and_on_request(codec: str) -> None:
    enc = VideoEncoder(EncoderSettings(codec=codec, width=640, height=360, fps=15,  # type: ignore[arg-type]
                                       keyframe_interval_s=2.0))
    keys = []
    for i in range(75):
        image = render_pattern(1280, 720, time.time(), i)  # scaled down by the encoder
        packets = enc.encode(image, i * 6000, force_keyframe=(i == 40))
        if any(p.is_keyframe for p in packets):
            keys.append(i)
    assert keys == [0, 30, 40, 70]
    assert enc.forced_keyframes == 2  # the first frame and frame 40


def test_h264_is_annexb_with_parameter_sets_on_keyframes() -> None:
    enc = VideoEncoder(EncoderSettings())
    first = enc.encode(render_pattern(640, 360, time.time(), 0), 0)
    data = bytes(first[0])
    assert data.startswith(b"\x00\x00\x00\x01")
    assert data[4] & 0x1F == 7  # SPS first, so a viewer can start here


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"width": 100}, "outside 320x180"), ({"width": 641}, "must be even"),
     ({"fps": 0}, "frame rate"), ({"bitrate": 10}, "bitrate"),
     ({"keyframe_interval_s": 5}, "keyframe interval")],
)
def test_settings_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncoderSettings(**kwargs)  # type: ignore[arg-type]
