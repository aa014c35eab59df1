"""The edge bench: CPU accounting, and one short real case end to end."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from devices.media.bench import process_cpu_seconds, run_edge_bench


def test_process_cpu_seconds_advances_with_work() -> None:
    before = process_cpu_seconds()
    total = 0
    while process_cpu_seconds() - before < 0.05:
        total += sum(range(10000))
    assert process_cpu_seconds() > before


@pytest.mark.slow
async def test_short_passthrough_case_reports_a_row() -> None:
    args = argparse.Namespace(cases=["rtsp-passthrough"], sizes=["360p"], duration_s=2.0)
    rows = await asyncio.to_thread(run_edge_bench, args)
    assert len(rows) == 1
    row = rows[0]
    assert row["case"] == "rtsp-passthrough" and row["size"] == "640x360"
    assert row["frames_per_s"] > 0
    assert row["target_pct"] == 5.0 and isinstance(row["ok"], bool)
