"""A TCP forwarder on 127.0.0.1 that can cut a link silently.

`cut()` stops forwarding in both directions without closing anything: no
FIN, no RST, bytes simply stop arriving, as when a village router loses its
uplink. New connections are accepted by the kernel but carry nothing either
(a handshake times out). `restore()` forwards again; connections opened
during the cut stay dead (their ends give up on them, as they would on a
real network).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class SilentLink:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.up = asyncio.Event()
        self.up.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self.up.clear()

    def restore(self) -> None:
        self.up.set()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        me = asyncio.current_task()
        for t in list(self._tasks):
            if t is not me:
                t.cancel()
        await asyncio.gather(*[t for t in self._tasks if t is not me], return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:
            self._tasks.add(me)  # type: ignore[arg-type]
            me.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]
        self._writers.add(writer)
        born_up = self.up.is_set()
        try:
            if not born_up:
                await asyncio.Event().wait()  # a connection opened during the cut: it carries nothing
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            writer.close()
            return
        self._writers.add(up_writer)
        pumps = [asyncio.ensure_future(self._pump(reader, up_writer)),
                 asyncio.ensure_future(self._pump(up_reader, writer))]
        for p in pumps:
            self._tasks.add(p)
            p.add_done_callback(self._tasks.discard)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for p in pumps:
            p.cancel()
        for w in (writer, up_writer):
            w.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            data = await src.read(65536)
            if not data:
                return
            if not self.up.is_set():
                # Cut: hold everything; the bytes of a dead link never arrive.
                await asyncio.Event().wait()
            dst.write(data)
            await dst.drain()
