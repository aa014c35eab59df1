"""`branchlive bench ingest`: N synthetic halls publish pre-encoded 360p
15 fps H.264 (~400 kbit/s) with Opus, from their own processes, to a hub
with recording on (see hub/media/bench.py for the harness)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from hub.media.bench import largest_ok, run_ingest_bench


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench ingest")
    parser.add_argument("ns", nargs="*", type=int, default=[64, 128, 256], help="numbers of publishers (one hub run each)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="media worker processes in the hub (0 = one per core)")
    parser.add_argument("--two-nodes", type=int, nargs="*", default=[512],
                        help="numbers of publishers to run over two hub nodes (default 512; none: skip)")
    a = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = run_ingest_bench(a.ns, a.seconds, a.workers, a.two_nodes)
    load_after = os.getloadavg()
    rows = [{
        "N": r["n"], "nodes": r["nodes"], "workers": a.workers, "live": r["live"],
        "hub CPU (% core)": "+".join(str(c) for c in r["node_cpu_percent"]),
        "per stream (% core)": r.get("cpu_per_stream_percent"), "us per datagram": r.get("us_per_datagram"),
        "RSS MB": r.get("rss_mb"), "RSS per stream MB": r.get("rss_per_stream_mb"),
        "RSS per added stream MB": r.get("rss_per_added_stream_mb"),
        "sent fps": r.get("sent_fps"), "recorded fps": r.get("recorded_fps"),
        "frames recorded": r.get("frames_recorded_total"), "recorded/sent": r.get("recorded_ratio"), "every frame recorded": r.get("every_frame_recorded"),
        "max loop lag s": r.get("max_loop_lag_s"),
        "publishers kept up": r.get("publishers_kept_up"), ">= 99.5 %": r.get("ok"),
    } for r in results]
    best = largest_ok(results)
    notes = (f"Largest N on one node with >= 99.5 % of sent frames recorded: {best}. Hub CPU is % of one core "
             "per hub node (summed over its processes); one node is pinned to CPU 0, the publishers to CPU 1, and "
             "with two nodes the second node shares CPU 1 with the publishers. Publishers are lean (aiortc sets "
             "them up; RTP packetised once, one SRTP protect and one sendto per packet); when they still fall "
             "short (publishers kept up = False) the per-stream figure is taken at the rate they managed. "
             "us per datagram: hub CPU time over the RTP datagrams sent to it. RSS per stream: the hubs' whole "
             "RSS over N; RSS per added stream: what the streams added to the hubs' RSS (measured before the "
             "first hall connects, meetings open) over N. Every frame recorded: the hubs recorded at least as many video frames as were sent over "
             "the whole run. "
             "Targets: 256 streams at <= 0.25 % of a core (Janus's figure on this load) and <= 1 MB RSS per stream. "
             f"Load average (1 min) {load_before[0]:.1f} before the runs, {load_after[0]:.1f} after: a "
             "shared machine above 2 inflates every per-datagram figure.")
    return f"WHIP ingest with recording ({a.workers} worker(s))", rows, notes
