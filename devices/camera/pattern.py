"""Synthetic test signals: a picture with a large wall clock and moving bars, and a tone.

Pure functions of time, so the emulator, the edge's pattern source and the
tests draw exactly the same thing. The clock shows wall-clock milliseconds:
a viewer's screenshot next to the hub's clock gives the glass-to-glass
latency.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

BAR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (235, 235, 235),
    (0, 235, 235),
    (235, 235, 0),
    (0, 235, 0),
    (235, 0, 235),
    (0, 0, 235),
    (235, 0, 0),
    (20, 20, 20),
)


def clock_text(wall_ts: float) -> str:
    """HH:MM:SS.mmm in local time: the text drawn on the pattern."""
    local = time.localtime(wall_ts)
    millis = int((wall_ts - math.floor(wall_ts)) * 1000)
    return f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}.{millis:03d}"


def render_pattern(
    width: int, height: int, wall_ts: float, seq: int, label: str = "branchlive"
) -> np.ndarray:
    """Draw one frame: colour bars scrolling sideways, a sweeping line, the clock."""
    if width < 16 or height < 16:
        raise ValueError(f"pattern size {width}x{height} is too small (minimum 16x16)")
    text = clock_text(wall_ts)
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(12, height // 6), 3)
    thickness = max(2, height // 120)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x = max(0, (width - tw) // 2)
    y = (height + th) // 2
    band_top = max(0, y - th - 8)
    # What moves (the bars, the sweeping line) stays above the clock; below it the
    # picture is flat. A digit over the edge of a bar or over the line looked, to
    # OpenCV's HOG people detector, like a head over a body: the pattern counted
    # a person in about one frame of 150.
    image = np.full((height, width, 3), 48, dtype=np.uint8)
    bar_w = max(1, width // len(BAR_COLOURS))
    shift = (seq * 4) % width
    for index, colour in enumerate(BAR_COLOURS):
        x0 = (index * bar_w + shift) % width
        x1 = x0 + bar_w
        image[:band_top, x0 : min(x1, width)] = colour
        if x1 > width:
            image[:band_top, : x1 - width] = colour
    if band_top > 4:
        sweep_y = (seq * 3) % (band_top - 4)
        image[sweep_y : sweep_y + 4, :] = (255, 255, 255)
    image[band_top : y + 9, :] = (0, 0, 0)
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
        cv2.LINE_AA,
    )
    small = max(0.4, scale / 4)
    cv2.putText(
        image, f"{label} #{seq}", (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, small,
        (255, 255, 255), 1, cv2.LINE_AA,
    )
    return image


def tone_samples(
    start_sample: int,
    count: int,
    *,
    sample_rate: int = 48000,
    frequency: float = 440.0,
    amplitude: float = 0.2,
    channels: int = 1,
) -> np.ndarray:
    """`count` int16 samples of a sine starting at absolute sample `start_sample`.

    Phase is computed from the absolute index, so consecutive chunks join
    without clicks.
    """
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"tone amplitude {amplitude} is outside 0..1")
    index = np.arange(start_sample, start_sample + count, dtype=np.float64)
    wave = np.sin(2.0 * np.pi * frequency * index / sample_rate) * amplitude * 32767.0
    mono = wave.astype(np.int16).reshape(-1, 1)
    return np.repeat(mono, channels, axis=1) if channels > 1 else mono
