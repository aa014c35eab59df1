"""Edge CPU benchmark: what publishing costs the hall PC, per source type and size.

    run_edge_bench(args) -> list[dict]     (wired to `branchlive bench edge` elsewhere)

Each case publishes over WHIP for `duration_s` to a receiver in a child
process, with the camera emulator (MJPEG/RTSP cases) in another child, so
the CPU read from /proc/self/stat (all threads of this process) is the
agent's alone. Targets: RTSP pass-through <= 5 % of a core, 360p15 encode
<= 35 %.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Any

from pydantic import SecretStr

from devices.camera.backends import EncodedPacketBackend, MjpegHttpBackend, PatternBackend
from devices.camera.source import CaptureSource

from .config import PublisherSettings
from .encoder import EncoderSettings, VideoEncoder
from .ice import restrict_host_addresses
from .publisher import Publisher, PublisherState
from .tracks import EncodedVideoTrack, PassthroughVideoTrack

CASES = ("pattern-encode", "mjpeg-decode-encode", "rtsp-passthrough")
SIZES = {"360p": (640, 360), "720p": (1280, 720)}
TARGETS = {("rtsp-passthrough", "360p"): 5.0, ("rtsp-passthrough", "720p"): 5.0,
           ("pattern-encode", "360p"): 35.0}


def process_cpu_seconds() -> float:
    """utime + stime of this process (every thread), from /proc/self/stat."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            await asyncio.sleep(0.2)


async def _bench_case(case: str, size: str, fps: float, duration_s: float, bitrate: int) -> dict[str, Any]:
    width, height = SIZES[size]
    whip_port, http_port, rtsp_port = _free_port(), _free_port(), _free_port()
    children = [_spawn("import sys; from devices.media.bench import _receiver_main; "
                       "_receiver_main(int(sys.argv[1]))", str(whip_port))]
    if case != "pattern-encode":
        children.append(_spawn(
            "import sys; from firmware_stubs.camera.cli import main; sys.exit(main(sys.argv[1:]))",
            "--http-port", str(http_port), "--rtsp-port", str(rtsp_port), "--size", f"{width}x{height}",
            "--fps", str(fps)))
    restrict_host_addresses(["127.0.0.1"])
    source: CaptureSource[Any]
    encoder = VideoEncoder(EncoderSettings(width=width, height=height, fps=fps, bitrate=bitrate))
    try:
        await _wait_port(whip_port)
        if case == "pattern-encode":
            source = CaptureSource(lambda: PatternBackend(width, height, fps))
        elif case == "mjpeg-decode-encode":
            await _wait_port(http_port)
            source = CaptureSource(lambda: MjpegHttpBackend(f"http://127.0.0.1:{http_port}/video.mjpg"))
        else:
            await _wait_port(rtsp_port)
            source = CaptureSource(lambda: EncodedPacketBackend(f"rtsp://127.0.0.1:{rtsp_port}/stream"))
        tracks: list[Any] = []

        def make_track() -> Any:
            track: Any = (PassthroughVideoTrack(source) if case == "rtsp-passthrough"
                          else EncodedVideoTrack(source, encoder))
            tracks.append(track)
            return track

        publisher = Publisher(
            PublisherSettings(whip_url=f"http://127.0.0.1:{whip_port}/whip/bench", token=SecretStr("bench")),
            video_track=make_track, video_codecs=("h264",))
        await source.start()
        await publisher.start()
        deadline = time.monotonic() + 30
        while publisher.state != PublisherState.PUBLISHING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{case} {size}: never reached PUBLISHING ({publisher.status.last_error})")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # settle: first keyframes, encoder warm-up
        sent0 = tracks[-1].packets_sent
        cpu0, wall0 = process_cpu_seconds(), time.monotonic()
        await asyncio.sleep(duration_s)
        cpu1, wall1 = process_cpu_seconds(), time.monotonic()
        sent = tracks[-1].packets_sent - sent0
        await publisher.stop()
        await source.stop()
    finally:
        restrict_host_addresses(None)
        for child in children:
            child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
            if child.poll() is None:
                child.kill()
    cpu_pct = 100.0 * (cpu1 - cpu0) / (wall1 - wall0)
    target = TARGETS.get((case, size))
    return {"case": case, "size": f"{width}x{height}", "fps": fps, "duration_s": round(wall1 - wall0, 2),
            "cpu_pct_of_core": round(cpu_pct, 1), "frames_per_s": round(sent / (wall1 - wall0), 1),
            "target_pct": target, "ok": None if target is None else cpu_pct <= target}


def run_edge_bench(args: argparse.Namespace | None = None) -> list[dict[str, Any]]:
    """Run every (case, size) pair; args may set cases, sizes, fps, duration_s, bitrate."""
    cases = list(getattr(args, "cases", None) or CASES)
    sizes = list(getattr(args, "sizes", None) or SIZES)
    fps = float(getattr(args, "fps", None) or 15.0)
    duration = float(getattr(args, "duration_s", None) or 10.0)
    bitrate = int(getattr(args, "bitrate", None) or 600_000)

    async def run_all() -> list[dict[str, Any]]:
        return [await _bench_case(c, s, fps, duration, bitrate) for c in cases for s in sizes]

    return asyncio.run(run_all())


# ---- receiver child process -------------------------------------------------
def _receiver_main(port: int) -> None:
    """A bare WHIP answerer that receives and discards (runs in its own process)."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaBlackhole

    restrict_host_addresses(["127.0.0.1"])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                method = head.split(" ", 1)[0]
                length = 0
                for line in head.split("\r\n")[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":")[1])
                body = (await reader.readexactly(length)).decode()
                if method == "POST":
                    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                    hole = MediaBlackhole()
                    pc.on("track", hole.addTrack)
                    await pc.setRemoteDescription(RTCSessionDescription(body, "offer"))
                    await pc.setLocalDescription(await pc.createAnswer())
                    await hole.start()
                    answer = pc.localDescription.sdp.encode()
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/sdp\r\n"
                                 b"Location: /whip/bench/1\r\n" + f"Content-Length: {len(answer)}\r\n\r\n"
                                 .encode() + answer)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge bench")
    parser.add_argument("--cases", nargs="*", choices=CASES)
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES))
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--bitrate", type=int, default=600_000)
    for row in run_edge_bench(parser.parse_args(argv)):
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
