"""A hub from the real factory behind a real uvicorn server on 127.0.0.1,
run with the same uvicorn options as `branchlive hub` (proxy handling
included), for tests that need real sockets and real client addresses."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from hub.app import create_app
from hub.auth.http import uvicorn_proxy_options
from hub.config import Settings


class LiveHub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="info", lifespan="on",
                                **uvicorn_proxy_options(settings))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-hub", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveHub:
        self.thread.start()
        deadline = time.monotonic() + 120  # a condition, with a generous bound for a busy machine
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
