"""Prometheus metrics of the recordings domain (default registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

SEGMENTS = Counter("branchlive_recording_segments", "Segments verified and indexed", ["source"])
SECONDS = Counter("branchlive_recording_seconds", "Seconds of video verified and indexed", ["source"])
REJECTED = Counter("branchlive_recording_segments_rejected",
                   "Segments refused as undecodable or malformed", ["source"])
DUPLICATES = Counter("branchlive_recording_duplicates_dropped",
                     "Uploaded segments dropped because the hub already had that time range")
EXPORTS = Counter("branchlive_recording_exports", "Exports by outcome", ["outcome"])
INCIDENTS = Counter("branchlive_recording_incidents", "Recording incidents by kind", ["kind"])
