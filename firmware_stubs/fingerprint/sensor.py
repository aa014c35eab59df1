"""Simulated fingers: images, feature files (templates) and match scores.

Everything is derived from the finger's name with SHAKE-256, so a finger
always yields the same image and the same 512-byte template, matches its own
enrolled template with a high score and anybody else's with a low one. A
template round-trips through UpChar/DownChar byte for byte and still matches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TEMPLATE_SIZE = 512
QUALITIES = ("good", "messy", "few_features", "capture_failed")
_MAGIC = b"\x03\x01SIMFP"
_ID = slice(8, 40)  # where the finger identity lives inside a template


@dataclass(frozen=True)
class Finger:
    name: str
    quality: str = "good"

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise ValueError(f"finger quality must be one of {', '.join(QUALITIES)}, got {self.quality!r}")


@dataclass(frozen=True)
class Image:
    pixels: bytes
    quality: str = "good"


def capture(finger: Finger, size: int) -> Image:
    pixels = hashlib.shake_256(b"image:" + finger.name.encode()).digest(size)
    return Image(pixels, finger.quality)


def downloaded_image(pixels: bytes, size: int) -> Image:
    pixels = pixels[:size].ljust(size, b"\x00")
    # A flat image (blank glass) has no minutiae to extract.
    quality = "few_features" if len(set(pixels)) <= 2 else "good"
    return Image(pixels, quality)


def extract(image: Image) -> bytes:
    """The feature file (512 bytes) for a good image."""
    identity = hashlib.sha256(image.pixels).digest()
    body = hashlib.shake_256(b"template:" + identity).digest(TEMPLATE_SIZE)
    return _MAGIC + b"\x00" + identity + body[40:]


def identity(template: bytes | None) -> bytes | None:
    if template is None or len(template) != TEMPLATE_SIZE or not template.startswith(_MAGIC):
        return None
    return template[_ID]


def score(a: bytes | None, b: bytes | None) -> int:
    """Similarity 0..300; same finger >= 60, different fingers < 20."""
    ia, ib = identity(a), identity(b)
    if ia is None or ib is None:
        return 0
    if ia == ib:
        return 60 + int.from_bytes(ia[:2], "big") % 200
    mixed = hashlib.sha256(min(ia, ib) + max(ia, ib)).digest()
    return mixed[0] % 20


def threshold(security_level: int) -> int:
    """Lowest score accepted as a match at security level 1..5."""
    return 25 + 5 * security_level
