"""Export of a meeting as one file: segments remuxed (never re-encoded) into
a fragmented MP4 (H.264) or WebM (VP8), streamed while it is produced.

The remux is blocking PyAV work and runs in a thread; it writes into a
bounded queue the HTTP response drains, so a slow client slows only its own
export and a client that goes away stops the thread.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import av

CHUNK_QUEUE = 32


class ExportCancelled(Exception):
    pass


class _QueueWriter:
    """A write-only file object for PyAV that hands bytes to the loop."""

    def __init__(self, out: queue.Queue[bytes | None], cancelled: list[bool]) -> None:
        self._out = out
        self._cancelled = cancelled

    def write(self, data: bytes) -> int:
        while True:
            if self._cancelled[0]:
                raise ExportCancelled
            try:
                self._out.put(bytes(data), timeout=0.5)
                return len(data)
            except queue.Full:
                continue

    def flush(self) -> None:
        pass


def remux(parts: Sequence[tuple[Path, datetime]], container: str, fileobj: object) -> None:
    """Concatenate segment files into `fileobj`. Each segment's packets are
    shifted by its start time relative to the first, so gaps stay gaps."""
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if container == "mp4" else {}
    out = av.open(fileobj, "w", format=container, options=options)  # type: ignore[arg-type]
    try:
        t0 = parts[0][1].timestamp()
        streams: dict[str, av.stream.Stream] = {}
        last_dts: dict[str, int] = {}
        for path, started_at in parts:
            offset = started_at.timestamp() - t0
            with av.open(str(path)) as src:
                for in_stream in src.streams:
                    kind = in_stream.type
                    if kind not in ("video", "audio"):
                        continue
                    if kind not in streams:
                        streams[kind] = out.add_stream_from_template(in_stream)
                for packet in src.demux():
                    kind = packet.stream.type
                    if packet.dts is None or kind not in streams or packet.time_base is None:
                        continue
                    shift = int(round(offset / packet.time_base))
                    dts = packet.dts + shift
                    if dts <= last_dts.get(kind, -1 << 62):
                        continue  # overlapping segments: keep the earlier one
                    last_dts[kind] = dts
                    packet.pts = (packet.pts if packet.pts is not None else packet.dts) + shift
                    packet.dts = dts
                    packet.stream = streams[kind]
                    out.mux(packet)
    finally:
        out.close()


async def stream_export(
    parts: Sequence[tuple[Path, datetime]], container: str
) -> AsyncIterator[bytes]:
    chunks: queue.Queue[bytes | None] = queue.Queue(CHUNK_QUEUE)
    cancelled = [False]

    def work() -> None:
        try:
            remux(parts, container, _QueueWriter(chunks, cancelled))
        except ExportCancelled:
            return
        finally:
            if not cancelled[0]:
                chunks.put(None)

    loop = asyncio.get_running_loop()
    job = loop.run_in_executor(None, work)
    try:
        while True:
            chunk = await loop.run_in_executor(None, chunks.get)
            if chunk is None:
                break
            yield chunk
        await job
    finally:
        cancelled[0] = True
        while not chunks.empty():
            chunks.get_nowait()
        await asyncio.gather(job, return_exceptions=True)
