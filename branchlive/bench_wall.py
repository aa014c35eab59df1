"""`branchlive bench wall`: the live wall in headless Chromium with N
simulated halls (see branchlive/wall_sim.py for how it is driven)."""

from __future__ import annotations

import argparse
from typing import Any

from branchlive.wall_sim import run_wall_bench


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench wall")
    parser.add_argument("--branches", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    a = parser.parse_args(argv)
    r = run_wall_bench(a.branches, a.seconds, viewport=(a.width, a.height))
    rows = [
        {"measure": "main thread busy", "value": f"{r['main_thread_busy'] * 100:.1f} %", "target": "<= 20 %"},
        {"measure": "JS heap", "value": f"{r['heap_mb']} MB", "target": ""},
        {"measure": "bytes/s from the hub", "value": f"{r['hub_bytes_per_s'] / 1024:.0f} KiB/s",
         "target": f"WebSocket {r['ws_bytes_per_s'] / 1024:.0f} KiB/s + HTTP {r['http_bytes_per_s'] / 1024:.0f} KiB/s"},
        {"measure": "wall socket messages/s", "value": f"{r['ws_messages_per_s']}", "target": ""},
        {"measure": "tiles shown / with a meeting", "value": f"{r['tiles']} / {r['live_tiles']}", "target": f"{a.branches}"},
    ]
    notes = (f"{a.branches} simulated halls (heartbeat, a JPEG thumbnail every 5 s, ~60 % in a meeting with check-ins) "
             f"against a hub subprocess; the wall in Debian Chromium (headless) at {a.width}x{a.height} for {a.seconds:g} s. "
             "Main-thread busy = change of CDP Performance TaskDuration / elapsed time. Hub, halls and browser share this machine.")
    return f"live wall with {a.branches} branches", rows, notes
