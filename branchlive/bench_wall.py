"""`branchlive bench wall`: the live wall in headless Chromium with N
simulated halls (see branchlive/wall_sim.py for how it is driven).

By default a county's 512 halls on a 3840x2160 wall in the dense layout
(全览). Asserted, not only measured: every tile inside the viewport, and
every group header's numbers equal to the tiles under it, checked each
second while halls open and close meetings. The main thread's busy share
is measured (target <= 20 %)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from branchlive.wall_sim import run_wall_bench


class WallBenchFailed(AssertionError):
    """The wall did not show what it must (tiles off screen, headers wrong)."""


def check(r: dict[str, Any], branches: int) -> None:
    if r["mode"] == "dense":
        if r["layout"] != "dense":
            raise WallBenchFailed(f"the wall is in the {r['layout']} layout, not dense")
        if r["tiles"] != branches or r["tiles_inside"] != branches:
            raise WallBenchFailed(f"{r['tiles_inside']} of {r['tiles']} tiles inside the {r['viewport']} viewport, "
                                  f"{branches} expected; first outside (id, left, top, right, bottom): {r['tiles_outside']}")
    if not r["header_checks"] or not r["header_groups"]:
        raise WallBenchFailed("no group header was checked")
    if r["header_mismatches"]:
        raise WallBenchFailed("group headers disagree with their tiles: " + "; ".join(r["header_mismatches"]))


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench wall")
    parser.add_argument("--branches", type=int, default=512)
    parser.add_argument("--townships", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--width", type=int, default=3840)
    parser.add_argument("--height", type=int, default=2160)
    parser.add_argument("--mode", choices=["dense", "grouped", "auto"], default="dense")
    parser.add_argument("--churn", type=float, default=0.03,
                        help="chance per hall and picture (5 s) that it opens or ends a meeting")
    parser.add_argument("--screenshot", help="save the wall as it was at the end (PNG), e.g. docs/screenshots/wall-dense-3840x2160.png")
    a = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    r = run_wall_bench(a.branches, a.seconds, townships=a.townships, viewport=(a.width, a.height), mode=a.mode,
                       churn=a.churn, screenshot=a.screenshot)
    load_after = os.getloadavg()[0]
    check(r, a.branches)
    tw, th = r["tile_px"] or (0, 0)
    rows = [
        {"measure": "main thread busy", "value": f"{r['main_thread_busy'] * 100:.1f} %", "target": "<= 20 %"},
        {"measure": "long tasks (> 50 ms)", "value": f"{r['longtasks']} ({r['longtask_share'] * 100:.1f} % of the time)", "target": ""},
        {"measure": "tiles inside the viewport", "value": f"{r['tiles_inside']} / {r['tiles']}",
         "target": f"{a.branches} (asserted)" if a.mode == "dense" else ""},
        {"measure": "tile size", "value": f"{tw}x{th} px" + (", with picture" if r["thumbnails"] else ", no picture"), "target": ""},
        {"measure": "group headers = tiles under them", "value": f"{r['header_groups']} groups x {r['header_checks']} checks, "
         f"{len(r['header_mismatches'])} wrong", "target": "0 wrong (asserted)"},
        {"measure": "JS heap", "value": f"{r['heap_mb']} MB", "target": ""},
        {"measure": "bytes/s from the hub", "value": f"{r['hub_bytes_per_s'] / 1024:.0f} KiB/s",
         "target": f"WebSocket {r['ws_bytes_per_s'] / 1024:.0f} KiB/s + HTTP {r['http_bytes_per_s'] / 1024:.0f} KiB/s"},
        {"measure": "wall socket messages/s", "value": f"{r['ws_messages_per_s']}", "target": ""},
        {"measure": "tiles with a meeting at the end", "value": f"{r['live_tiles']}", "target": ""},
        {"measure": "simulated hall steps failed", "value": ", ".join(f"{k} {v}" for k, v in sorted(r["hall_errors"].items())) or "none",
         "target": "(acks late on a loaded machine)"},
    ]
    notes = (f"{a.branches} simulated halls in {a.townships} townships (heartbeat, a JPEG thumbnail every 5 s, ~60 % in a "
             f"meeting with check-ins; each hall opens or ends a meeting with probability {a.churn:g} per picture) against "
             f"a hub subprocess (media plane off: meetings show as 视频中断); the wall in Debian Chromium (headless) at "
             f"{a.width}x{a.height}, layout '{a.mode}', for {a.seconds:g} s. Main-thread busy = change of CDP Performance "
             "TaskDuration / elapsed time; long tasks from a PerformanceObserver. Hub, halls and browser share this machine "
             f"(1-minute load average {load_before:.1f} before the run, {load_after:.1f} after it; the busy share "
             "grows with the load, as the page's tasks wait for a core).")
    return f"live wall with {a.branches} branches", rows, notes
