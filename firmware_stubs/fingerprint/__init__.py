"""Emulated UART fingerprint module (R307 / R503 / AS608) on a pseudo-terminal."""

from .emulator import Faults, FingerprintEmulator
from .module import ModuleFirmware, Timings
from .profiles import AS608, MODELS, R307, R503, ModelProfile
from .sensor import Finger

__all__ = [
    "AS608",
    "MODELS",
    "R307",
    "R503",
    "Faults",
    "Finger",
    "FingerprintEmulator",
    "ModelProfile",
    "ModuleFirmware",
    "Timings",
]
