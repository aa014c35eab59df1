"""Control channel of the emulator: line-delimited JSON on a Unix socket.

One JSON object per line in, one per line out (`{"ok": true, ...}` or
`{"ok": false, "error": "..."}`). Operations:

    {"op": "place", "finger": "member-17-right-index", "quality": "good"}
    {"finger": "member-17-right-index"}                 (op "place" implied)
    {"op": "lift"}
    {"op": "fault", "fault": "silent", "count": 1}
    {"op": "fault", "fault": "garbage", "data": "00ff13"}   (hex, optional)
    {"op": "fault", "fault": "bad_checksum", "count": 1}
    {"op": "fault", "fault": "slow", "delay": 2.5}      (0 to stop)
    {"op": "unplug"} / {"op": "replug"}                 (also as "fault" kinds)
    {"op": "clear"}                                     (all faults off)
    {"op": "wipe"}                                      (library emptied: a reset or swapped module)
    {"op": "status"}
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import FingerprintEmulator


def handle(emulator: FingerprintEmulator, message: dict[str, Any]) -> dict[str, Any]:
    """Apply one control message; shared by the socket and in-process callers."""
    op = message.get("op") or ("place" if "finger" in message else "fault" if "fault" in message else None)
    if op == "place":
        emulator.place_finger(str(message["finger"]), str(message.get("quality", "good")))
    elif op == "lift":
        emulator.lift_finger()
    elif op == "fault":
        kind = message.get("fault")
        if kind == "silent":
            emulator.inject_silence(int(message.get("count", 1)))
        elif kind == "garbage":
            data = message.get("data")
            if data is None:
                emulator.inject_garbage()
            else:
                emulator.inject_garbage(bytes.fromhex(str(data)))
        elif kind == "bad_checksum":
            emulator.inject_bad_checksum(int(message.get("count", 1)))
        elif kind == "slow":
            emulator.set_delay(float(message.get("delay", 1.0)))
        elif kind in ("unplug", "replug"):
            return handle(emulator, {"op": kind})
        else:
            raise ValueError(f"unknown fault {kind!r}: use silent, garbage, bad_checksum, slow, unplug, replug")
    elif op == "unplug":
        emulator.unplug()
    elif op == "replug":
        emulator.replug()
    elif op == "wipe":
        emulator.wipe_library()
    elif op == "clear":
        emulator.clear_faults()
    elif op != "status":
        raise ValueError(f"unknown op {op!r}: use place, lift, fault, unplug, replug, wipe, clear, status")
    return {"ok": True, "status": emulator.status()}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        for line in self.rfile:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("a control message must be a JSON object")
                reply = handle(self.server.emulator, message)
            except (ValueError, KeyError, TypeError) as exc:
                reply = {"ok": False, "error": str(exc)}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    emulator: FingerprintEmulator


class ControlServer:
    def __init__(self, emulator: FingerprintEmulator, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.emulator = emulator
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.unlink(missing_ok=True)
        server = _Server(str(self.path), _Handler)
        server.emulator = self.emulator
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fp-emulator-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.path.unlink(missing_ok=True)
