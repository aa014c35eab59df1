"""Fixtures for the emulator tests: a raw host on the pty, and leak checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    threads = set(threading.enumerate())
    fds = set(os.listdir("/proc/self/fd"))
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
        if not extra:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {extra}"
    leaked = []
    for fd in set(os.listdir("/proc/self/fd")) - fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/pts/") or target == "/dev/ptmx":
            leaked.append(target)
    assert not leaked, f"pseudo-terminals left open: {leaked}"
