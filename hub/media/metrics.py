"""Prometheus metrics of the media plane, on the default registry (the lead
mounts prometheus_client's ASGI app at /metrics)."""

from __future__ import annotations

import resource
import time

from prometheus_client import Counter, Gauge

BITRATE = Gauge("branchlive_media_bitrate_bps", "Received bit rate per branch", ["branch"])
FRAME_RATE = Gauge("branchlive_media_frame_rate_fps", "Received video frames per second", ["branch"])
PACKET_LOSS = Gauge(
    "branchlive_media_packet_loss_ratio", "Fraction of video RTP packets lost", ["branch"]
)
RECORDED_BYTES = Counter("branchlive_media_recorded_bytes", "Bytes of finished segments", ["branch"])
VIEWERS = Gauge("branchlive_media_viewers", "WHEP viewers per branch", ["branch"])
STATE = Gauge("branchlive_media_live", "1 if the branch's stream is live", ["branch"])
CPU = Gauge("branchlive_media_process_cpu_percent", "CPU of the hub process (% of one core)")
LOOP_LAG = Gauge("branchlive_media_loop_lag_seconds", "Event-loop lag measured by the monitor")


WORKER_CPU = Gauge("branchlive_media_worker_cpu_percent", "CPU of a media node process (% of one core)",
                   ["worker"])
WORKER_LOOP_LAG = Gauge("branchlive_media_worker_loop_lag_seconds", "Event-loop lag of a media node process",
                        ["worker"])
NODE_UP = Gauge("branchlive_media_node_up", "1 while a supervised media node is up", ["node"])
NODE_RESTARTS = Counter("branchlive_media_node_restarts", "Restarts of a supervised media node", ["node"])


def apply_report(report: dict, *, forwarded: dict[int, int] | None = None) -> None:
    """Set the metrics from a node's monitor report (InProcessNode's one
    monitor loop makes it). `forwarded` (a remote node's recorded-bytes
    memory) marks a report from another process: its CPU and lag are that
    node's, and its recorded bytes arrive as totals."""
    if forwarded is None:
        CPU.set(report.get("cpu", 0.0))
        LOOP_LAG.set(report.get("loop_lag", 0.0))
    else:
        node = str(report.get("node", ""))
        WORKER_CPU.labels(node).set(report.get("cpu", 0.0))
        WORKER_LOOP_LAG.labels(node).set(report.get("loop_lag", 0.0))
    for key, values in report.get("branches", {}).items():
        branch_id = int(key)
        label = str(branch_id)
        FRAME_RATE.labels(label).set(values["fps"])
        BITRATE.labels(label).set(values["bps"])
        PACKET_LOSS.labels(label).set(values["loss"])
        if forwarded is not None:
            VIEWERS.labels(label).set(values["viewers"])
            recorded = values["recorded_bytes"]
            delta = recorded - forwarded.get(branch_id, 0)
            if delta > 0:
                RECORDED_BYTES.labels(label).inc(delta)
            forwarded[branch_id] = recorded


class CpuMeter:
    def __init__(self) -> None:
        self._last = (time.monotonic(), self._cpu())

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def percent(self) -> float:
        now, cpu = time.monotonic(), self._cpu()
        then, cpu_then = self._last
        self._last = (now, cpu)
        return 100.0 * (cpu - cpu_then) / max(now - then, 1e-6)


def forget_branch(branch_id: int) -> None:
    label = str(branch_id)
    for metric in (BITRATE, FRAME_RATE, PACKET_LOSS, VIEWERS, STATE):
        try:
            metric.remove(label)
        except KeyError:
            pass


