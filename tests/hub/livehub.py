"""The real hub app served by uvicorn on 127.0.0.1 in a thread of its own,
so a test talks to it over real sockets and the hub's event loop is not the
test's (a blocked hub loop shows up as a slow answer, not a stuck test)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL."""
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    started = threading.Event()

    def run() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            started.set()

    thread = threading.Thread(target=run, name="live-hub", daemon=True)
    thread.start()
    # uvicorn sets `started` from its own loop; poll it on a condition, not a clock.
    while not (server.started or started.is_set()):
        started.wait(0.02)
    assert server.started, "the hub did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


def http(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60)
