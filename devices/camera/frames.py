"""Plain data carried from capture to the encoder, the thumbnailer and the counter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """One raw picture from a video source.

    `image` is BGR (OpenCV order), uint8, shape (height, width, 3).
    `wall_ts` is time.time() at capture (for latency read against the clock
    overlay); `mono_ts` is time.monotonic() at capture (for pacing and
    RTP timestamps, never jumps).
    """

    image: np.ndarray
    wall_ts: float
    mono_ts: float
    seq: int

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A run of PCM samples: int16, shape (samples, channels), interleaved order.

    `encoded`/`codec`: the same sound as the IP camera sent it, when it is
    G.711 ("pcma"/"pcmu"), so it can be passed on without re-encoding.
    """

    samples: np.ndarray
    sample_rate: int
    mono_ts: float
    seq: int
    encoded: bytes | None = None
    codec: str | None = None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate
