"""Persistent flash of the emulated module: system parameters and library.

Kept as one JSON file (templates hex-encoded) written atomically after every
change, like flash that survives a power cycle. Without a path the flash
lives only in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SystemParams:
    address: int = 0xFFFFFFFF
    password: int = 0
    security_level: int = 3
    packet_size_code: int = 2
    baud_multiplier: int = 6


@dataclass
class Flash:
    params: SystemParams = field(default_factory=SystemParams)
    library: dict[int, bytes] = field(default_factory=dict)


class FlashStore:
    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory = Flash()

    def load(self) -> Flash:
        if self.path is None or not self.path.exists():
            return Flash(SystemParams(**asdict(self._memory.params)), dict(self._memory.library))
        raw = json.loads(self.path.read_text())
        params = SystemParams(**raw.get("params", {}))
        library = {int(k): bytes.fromhex(v) for k, v in raw.get("library", {}).items()}
        return Flash(params, library)

    def save(self, flash: Flash) -> None:
        self._memory = Flash(SystemParams(**asdict(flash.params)), dict(flash.library))
        if self.path is None:
            return
        doc = {
            "version": 1,
            "params": asdict(flash.params),
            "library": {str(k): v.hex() for k, v in sorted(flash.library.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, self.path)
