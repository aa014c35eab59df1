"""Thin serial transport: pyserial opens the port, the event loop watches its fd.

No framing here: bytes in go to `on_data`, a dead port goes to `on_lost`
once. A USB-serial adapter that is pulled shows up as a read or write that
fails (pyserial's SerialException, or OSError EIO underneath).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import serial

from .errors import ReaderDisconnected, ReaderUnavailable

log = logging.getLogger(__name__)


class SerialTransport:
    def __init__(
        self,
        port: str,
        baudrate: int,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[Exception], None],
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self._on_data = on_data
        self._on_lost = on_lost
        self._serial: serial.Serial | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        try:
            # timeout=0: reads never block; the loop tells us when bytes are there.
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ReaderUnavailable(
                f"Cannot open the fingerprint reader at {self.port} ({exc}); "
                "check that it is plugged in and that the port setting is right"
            ) from exc
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._serial.fileno(), self._readable)

    def close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is None:
            return
        if self._loop is not None:
            try:
                self._loop.remove_reader(ser.fileno())
            except (ValueError, OSError):
                pass
        try:
            ser.close()
        except (serial.SerialException, OSError):
            pass

    def write(self, data: bytes) -> None:
        if self._serial is None:
            raise ReaderDisconnected("The fingerprint reader is not connected; check the USB cable")
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
            raise ReaderDisconnected(
                f"Writing to the fingerprint reader failed ({exc}); check the USB cable, "
                "the driver reconnects by itself"
            ) from exc

    def flush_input(self) -> None:
        if self._serial is None:
            return
        try:
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)

    def _readable(self) -> None:
        if self._serial is None:
            return
        try:
            data = self._serial.read(4096)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
            return
        if data:
            self._on_data(data)

    def _lost(self, exc: Exception) -> None:
        if self._serial is None:
            return
        log.warning("fingerprint reader at %s lost: %s", self.port, exc)
        self.close()
        self._on_lost(exc)
