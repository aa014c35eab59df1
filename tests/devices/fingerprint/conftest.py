"""Fixtures for the fingerprint driver tests: an emulator on a real pty, and leak checks."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devices.fingerprint import FingerprintDriver
from devices.fingerprint.reconnect import Backoff
from firmware_stubs.fingerprint import FingerprintEmulator


def _ptys() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/pts/") or target == "/dev/ptmx":
            found.add(f"{fd}:{target}")
    return found


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or pseudo-terminals behind."""
    threads = set(threading.enumerate())
    ptys = _ptys()
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
        if not extra:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {extra}"
    assert _ptys() <= ptys, f"pseudo-terminals left open: {_ptys() - ptys}"


@pytest.fixture
async def no_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not left, f"tasks left running: {left}"


@pytest.fixture
def emulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FingerprintEmulator]:
    model = getattr(request, "param", "R307")
    with FingerprintEmulator(model, link=tmp_path / "fp0", library_path=tmp_path / "library.json") as emu:
        yield emu


FAST_BACKOFF = Backoff(initial=0.05, maximum=0.2)


def make_driver(emu: FingerprintEmulator, **kwargs: object) -> FingerprintDriver:
    options: dict[str, object] = {"timeout": 0.5, "poll_interval": 0.01, "backoff": FAST_BACKOFF}
    options.update(kwargs)
    return FingerprintDriver(emu.device_path, **options)  # type: ignore[arg-type]


@pytest.fixture
def driver_factory() -> object:
    """`make_driver(emulator, **options)` with fast test settings."""
    return make_driver


@pytest.fixture
async def driver(emulator: FingerprintEmulator, no_tasks: None) -> AsyncIterator[FingerprintDriver]:
    drv = make_driver(emulator)
    await drv.start(wait=10)
    try:
        yield drv
    finally:
        await drv.close()
