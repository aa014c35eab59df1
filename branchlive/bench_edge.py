"""Edge agent CPU per video source type (`branchlive bench edge`).

Wraps `devices.media.bench.run_edge_bench`: each case publishes over WHIP to
a receiver in a child process (the camera emulator, for MJPEG and RTSP, in
another), so the CPU read from /proc/self/stat is the agent's alone.
Targets: RTSP pass-through <= 5 % of a core, 360p15 encode <= 35 % (also with
the microphone and thumbnails: mic-encode), pass-through with keyframe
thumbnails and the camera's audio <= 8 % (rtsp-passthrough-av).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from devices.media.bench import CASES, SIZES, run_edge_bench


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench edge")
    parser.add_argument("--cases", nargs="*", choices=CASES, help="source types (default: all)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), help="default: 360p 720p")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--duration-s", type=float, default=15.0, help="seconds measured per case")
    parser.add_argument("--bitrate", type=int, default=600_000, help="encoder bitrate (bit/s)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = run_edge_bench(args)
    load_after = os.getloadavg()[0]
    missed = [f"{r['case']} {r['size']}" for r in rows if r.get("ok") is False]
    notes = (
        "CPU is utime+stime of the agent process (all threads: capture, decode, encode, "
        "aiortc send) over the measured seconds, in % of one core. pattern-encode renders a "
        "test card and encodes it (H.264, x264 veryfast, one slice); mjpeg-decode-encode pulls "
        "MJPEG over HTTP from the camera emulator, decodes and re-encodes; rtsp-passthrough "
        "forwards the emulator's H.264 over RTSP without decoding. mic-encode is pattern-encode "
        "plus a microphone (ALSA capture from a private PulseAudio server's null-sink monitor fed "
        "a tone, Opus-encoded) and a thumbnail every 10 s with people counted every 20 s (the agent's defaults); rtsp-passthrough-av is "
        "rtsp-passthrough plus one keyframe decoded per thumbnail (people counted every 20 s) and the "
        "camera's AAC decoded and sent as Opus. sound_server_pct is the PulseAudio server's own "
        "CPU. Targets: RTSP pass-through <= 5 %, with thumbnails and audio <= 8 %, 360p15 encode "
        "(with or without the microphone) <= 35 %. The machine is shared: compare rows of one run "
        f"(load average {load_before:.1f} at the start, {load_after:.1f} at the end, on "
        f"{os.cpu_count()} cores). "
        + ("Missed: " + ", ".join(missed) + "." if missed else "Every target with a figure was met.")
    )
    return f"edge agent CPU per source, {args.fps:g} fps", rows, notes
