"""Model profiles: what differs between R307, R503 and AS608."""

from __future__ import annotations

from dataclasses import dataclass

BASE_COMMANDS = frozenset(
    {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E,
     0x0F, 0x12, 0x13, 0x14, 0x15, 0x1B, 0x1D, 0x1F}
)


@dataclass(frozen=True)
class ModelProfile:
    name: str
    capacity: int
    image_width: int
    image_height: int
    unknown_command_code: int
    commands: frozenset[int]

    @property
    def image_bytes(self) -> int:
        # 4 bits per pixel: two pixels per byte.
        return self.image_width * self.image_height // 2


R307 = ModelProfile("R307", 1000, 256, 288, 0x01, BASE_COMMANDS)
# R503: Aura LED, CheckSensor, SoftRst (then a raw 0x55), HandShake.
R503 = ModelProfile("R503", 200, 192, 192, 0xFC, BASE_COMMANDS | {0x35, 0x36, 0x3D, 0x40})
# AS608: the common boards ship with a 300-template library; GetEcho answers 0x55.
AS608 = ModelProfile("AS608", 300, 256, 288, 0x01, BASE_COMMANDS | {0x53})

MODELS: dict[str, ModelProfile] = {p.name: p for p in (R307, R503, AS608)}


def profile(name: str) -> ModelProfile:
    try:
        return MODELS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown fingerprint module model {name!r}; choose one of {', '.join(MODELS)}") from None
