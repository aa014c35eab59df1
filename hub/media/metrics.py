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


WORKER_CPU = Gauge("branchlive_media_worker_cpu_percent", "CPU of a media worker (% of one core)",
                   ["worker"])
WORKER_LOOP_LAG = Gauge("branchlive_media_worker_loop_lag_seconds", "Event-loop lag of a media worker",
                        ["worker"])
_recorded_seen: dict[int, int] = {}


def forward_worker_metrics(message: dict, viewers: dict[int, int]) -> None:
    """Set the hub process's metrics from a worker's periodic report (the
    workers' own registries are not scraped)."""
    worker = str(message["worker"])
    WORKER_CPU.labels(worker).set(message.get("cpu", 0.0))
    WORKER_LOOP_LAG.labels(worker).set(message.get("loop_lag", 0.0))
    for key, values in message.get("branches", {}).items():
        branch_id = int(key)
        label = str(branch_id)
        FRAME_RATE.labels(label).set(values["fps"])
        BITRATE.labels(label).set(values["bps"])
        PACKET_LOSS.labels(label).set(values["loss"])
        VIEWERS.labels(label).set(values["viewers"])
        viewers[branch_id] = values["viewers"]
        recorded = values["recorded_bytes"]
        delta = recorded - _recorded_seen.get(branch_id, 0)
        if delta > 0:
            RECORDED_BYTES.labels(label).inc(delta)
        _recorded_seen[branch_id] = recorded


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


