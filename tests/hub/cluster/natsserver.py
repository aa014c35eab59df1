"""A throwaway NATS server (Debian's nats-server, JetStream on) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from branchlive.hub_process import free_port

__all__ = ["free_port", "nats_server"]


@contextlib.contextmanager
def nats_server(host: str = "127.0.0.1") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yields (nats://host:port, process). Fails loudly when nats-server
    is missing: scripts/test installs it."""
    binary = shutil.which("nats-server")
    assert binary, "nats-server is not installed: run scripts/test (it installs Debian's nats-server)"
    with tempfile.TemporaryDirectory(prefix="nats-") as store:
        port = free_port()
        proc = subprocess.Popen([binary, "-js", "-a", host, "-p", str(port), "-sd", store],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                    break
                assert proc.poll() is None, "nats-server exited at start"
                assert time.monotonic() < deadline, "nats-server did not listen within 30 s"
                time.sleep(0.05)
            yield f"nats://{host}:{port}", proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
