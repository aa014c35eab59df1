"""`branchlive camera-emulator`: run an emulated IP camera and print its URLs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .emulator import CameraEmulator, EmulatorSettings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="branchlive camera-emulator",
                                description="Emulated IP camera: MJPEG over HTTP and H.264 over RTSP, "
                                            "showing a wall clock for latency measurement.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--http-port", type=int, default=8081, help="MJPEG HTTP port (0: any free port)")
    p.add_argument("--rtsp-port", type=int, default=8554, help="RTSP port (0: any free port)")
    p.add_argument("--size", default="640x360", help="picture size WxH (default 640x360)")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--gop", type=float, default=1.0, help="H.264 keyframe interval in seconds")
    p.add_argument("--bitrate", type=int, default=800_000, help="H.264 bitrate in bit/s")
    p.add_argument("--label", default="camera-emulator", help="text drawn in the corner")
    p.add_argument("--audio", choices=("none", "pcma", "aac"), default="none",
                   help="the camera's microphone on RTSP: a tone as G.711 A-law or AAC (default none)")
    p.add_argument("--tone", type=float, default=440.0, help="frequency of the microphone's tone (Hz)")
    return p


async def _run(settings: EmulatorSettings) -> None:
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the URLs: a caller may stop us at once
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    camera = CameraEmulator(settings)
    await camera.start()
    print(f"MJPEG:    {camera.mjpeg_url}", flush=True)
    print(f"snapshot: {camera.snapshot_url}", flush=True)
    print(f"RTSP:     {camera.rtsp_url}", flush=True)
    print(f"control:  PUT/DELETE http://{settings.host}:{camera.http_port}/control/picture (JPEG body)",
          flush=True)
    try:
        await done.wait()
    finally:
        await camera.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"camera-emulator: --size {args.size!r} is not WxH, e.g. 640x360")
        return 2
    settings = EmulatorSettings(host=args.host, http_port=args.http_port, rtsp_port=args.rtsp_port,
                                width=width, height=height, fps=args.fps, gop_s=args.gop,
                                bitrate=args.bitrate, label=args.label,
                                audio=None if args.audio == "none" else args.audio, tone_hz=args.tone)
    try:
        asyncio.run(_run(settings))
    except OSError as exc:
        print(f"camera-emulator: cannot listen: {exc}; choose other ports with --http-port/--rtsp-port")
        return 1
    return 0
