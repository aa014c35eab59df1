"""The emulated fingerprint module on a real pseudo-terminal.

`FingerprintEmulator` owns the pty, one I/O thread that feeds the firmware
and writes its replies, the fault injection (silent, garbage, bad checksum,
slow, unplugged) and, optionally, the control socket. Host software opens
`device_path` with pyserial exactly as it would open /dev/ttyUSB0.

Unplugging closes the pty master: the host's reads and writes fail with EIO
(pyserial raises SerialException) and the stable `link` disappears; replug
creates a fresh pty, points the link at it and sends the power-up 0x55.
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sensor
from .module import READY_BYTE, ModuleFirmware, Response, Timings
from .profiles import profile
from .storage import FlashStore

DEFAULT_GARBAGE = b"\x00\xff\x13\xef\x37"
WRITE_STALL_LIMIT = 5.0  # seconds a reply may wait for a host that does not read


@dataclass
class Faults:
    silent: int = 0  # replies to drop
    garbage: list[bytes] = field(default_factory=list)  # prefixes for the next replies
    bad_checksum: int = 0  # replies whose first frame gets a wrong checksum
    delay: float = 0.0  # added before every reply until cleared


class FingerprintEmulator:
    """An R307/R503/AS608 module on a pty, driven in-process or over the control socket."""

    def __init__(
        self,
        model: str = "R307",
        *,
        library_path: str | os.PathLike[str] | None = None,
        link: str | os.PathLike[str] | None = None,
        control_path: str | os.PathLike[str] | None = None,
        timings: Timings | None = None,
        power_on_byte: bool = True,
        seed: int | None = 0,
    ) -> None:
        self.profile = profile(model)
        self.link = Path(link) if link is not None else None
        self.control_path = Path(control_path) if control_path is not None else None
        self.power_on_byte = power_on_byte
        self._lock = threading.RLock()
        self._finger: sensor.Finger | None = None
        self.faults = Faults()
        self.firmware = ModuleFirmware(
            self.profile, FlashStore(library_path), self._current_finger, timings, seed
        )
        self._master: int | None = None
        self._slave: int | None = None
        self.pts_path: str | None = None
        self._wake_r, self._wake_w = -1, -1
        self._jobs: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._stop = threading.Event()
        self._interrupt = threading.Event()
        self._thread: threading.Thread | None = None
        self._control: Any = None
        self.commands_seen = 0

    # --- lifecycle ----------------------------------------------------------

    @property
    def device_path(self) -> str:
        """What a host should open: the stable link if any, else the pts."""
        if self.link is not None:
            return str(self.link)
        if self.pts_path is None:
            raise RuntimeError("fingerprint emulator is not started")
        return self.pts_path

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def start(self) -> FingerprintEmulator:
        if self._thread is not None:
            raise RuntimeError("fingerprint emulator already started")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name=f"fp-emulator-{self.profile.name}", daemon=True)
        self._thread.start()
        if self.control_path is not None:
            from .control import ControlServer

            self._control = ControlServer(self, self.control_path)
            self._control.start()
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()
            self._control = None
        if self._thread is not None:
            self._stop.set()
            self._interrupt.set()
            self._wake()
            self._thread.join(timeout=10)
            self._thread = None
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> FingerprintEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FingerprintEmulator:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # --- the simulated world --------------------------------------------------

    def _current_finger(self) -> sensor.Finger | None:
        with self._lock:
            return self._finger

    def place_finger(self, name: str, quality: str = "good") -> None:
        finger = sensor.Finger(name, quality)
        with self._lock:
            self._finger = finger

    def lift_finger(self) -> None:
        with self._lock:
            self._finger = None

    @property
    def finger(self) -> sensor.Finger | None:
        return self._current_finger()

    def inject_silence(self, count: int = 1) -> None:
        with self._lock:
            self.faults.silent += count

    def inject_garbage(self, data: bytes = DEFAULT_GARBAGE) -> None:
        with self._lock:
            self.faults.garbage.append(bytes(data))

    def inject_bad_checksum(self, count: int = 1) -> None:
        with self._lock:
            self.faults.bad_checksum += count

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self.faults.delay = max(0.0, float(seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()
        self._interrupt.set()

    def unplug(self) -> None:
        """Pull the USB adapter: the pty and the link disappear."""
        self._interrupt.set()
        self._call_in_io_thread(self._close_pty)

    def replug(self) -> None:
        """Plug it back: a new pty behind the same link, then the power-up byte."""
        self._call_in_io_thread(self._replug)

    def wipe_library(self) -> None:
        """The module was reset (or swapped for a new one): its library is empty."""

        def wipe() -> None:
            with self._lock:
                self.firmware.flash.library.clear()
                self.firmware.store.save(self.firmware.flash)

        self._call_in_io_thread(wipe)

    def library(self) -> dict[int, bytes]:
        with self._lock:
            return dict(self.firmware.flash.library)

    def status(self) -> dict[str, Any]:
        with self._lock:
            finger = self._finger
            led = self.firmware.led
            return {
                "model": self.profile.name,
                "device": self.device_path if self.plugged or self.link else None,
                "pts": self.pts_path,
                "link": str(self.link) if self.link else None,
                "plugged": self.plugged,
                "finger": None if finger is None else {"name": finger.name, "quality": finger.quality},
                "templates": len(self.firmware.flash.library),
                "led": {"control": led.control, "speed": led.speed, "colour": led.colour, "times": led.times},
                "faults": {
                    "silent": self.faults.silent,
                    "garbage": len(self.faults.garbage),
                    "bad_checksum": self.faults.bad_checksum,
                    "delay": self.faults.delay,
                },
                "commands": self.commands_seen,
            }

    # --- pty --------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw line discipline: no echo, no CR/LF translation of binary frames.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.pts_path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(self.pts_path, tmp)
            os.replace(tmp, self.link)  # atomic: the link is never half-made
        if self.power_on_byte:
            self._write_all(READY_BYTE)

    def _close_pty(self) -> None:
        if self.link is not None and self.link.is_symlink():
            self.link.unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def _replug(self) -> None:
        if self._master is None:
            with self._lock:
                self.firmware.power_on()  # power was cut: RAM, buffers and password check are gone
            self._open_pty()

    def _call_in_io_thread(self, job: Callable[[], None]) -> None:
        if self._thread is None or threading.current_thread() is self._thread:
            job()
            return
        done = threading.Event()
        self._jobs.put((job, done))
        self._wake()
        if not done.wait(timeout=10):
            raise RuntimeError("fingerprint emulator I/O thread did not respond")

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass

    # --- I/O thread ---------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._run_jobs()
            fds = [self._wake_r] + ([self._master] if self._master is not None else [])
            readable, _, _ = select.select(fds, [], [], 0.5)
            if self._wake_r in readable:
                try:
                    os.read(self._wake_r, 512)
                except BlockingIOError:
                    pass
            if self._master is None or self._master not in readable:
                continue
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                continue  # EIO while no host holds the port: nothing to read
            with self._lock:
                responses = self.firmware.receive(data)
            for response in responses:
                self.commands_seen += 1
                self._send(response)
        self._run_jobs()

    def _run_jobs(self) -> None:
        while True:
            try:
                job, done = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                job()
            finally:
                done.set()

    def _send(self, response: Response) -> None:
        with self._lock:
            f = self.faults
            delay = f.delay
            if f.silent > 0:
                f.silent -= 1
                return
            prefix = f.garbage.pop(0) if f.garbage else b""
            corrupt = f.bad_checksum > 0
            if corrupt:
                f.bad_checksum -= 1
        self._interrupt.clear()
        if delay and not self._sleep(delay):
            return
        first = True
        for item in response.items:
            if isinstance(item, float):
                if not self._sleep(item):
                    return
                continue
            if first:
                first = False
                if corrupt:
                    item = item[:-1] + bytes([item[-1] ^ 0x5A])
                item = prefix + item
            if not self._write_all(item):
                return

    def _sleep(self, seconds: float) -> bool:
        """Pause; False if stopped or unplugged meanwhile (the reply is lost)."""
        self._interrupt.wait(seconds)
        self._run_jobs()
        return not self._stop.is_set() and self._master is not None

    def _write_all(self, data: bytes) -> bool:
        view = memoryview(data)
        stalled_since = time.monotonic()
        while view:
            master = self._master
            if master is None or self._stop.is_set():
                return False
            try:
                n = os.write(master, view)
            except BlockingIOError:
                n = 0
            except OSError:
                return False
            if n:
                view = view[n:]
                stalled_since = time.monotonic()
                continue
            if time.monotonic() - stalled_since > WRITE_STALL_LIMIT:
                return False  # nobody reads the port; a real UART would drop it too
            select.select([], [master], [], 0.05)
            self._run_jobs()
        return True
