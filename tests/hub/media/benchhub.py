"""The media plane's test hub (hub.media.benchapp) as a uvicorn subprocess,
for tests that need a real server a browser can reach."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.hub.media.test_crash import ROOT, free_port


async def start_bench_hub(data_dir: Path, **settings: Any) -> tuple[subprocess.Popen[bytes], str]:
    """Start it with these MediaSettings (disk thresholds off) and wait until it answers."""
    port = free_port()
    env = {**os.environ, "MEDIA_BENCH_DATA": str(data_dir), "MEDIA_BENCH_SETTINGS": json.dumps(
        {"min_free_bytes": 0, "stop_recording_free_bytes": 0, **settings})}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "hub.media.benchapp:create_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while True:
            try:
                await client.get("/bench/stats")
                return proc, base
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    stop_bench_hub(proc)
                    raise AssertionError("the test hub did not start") from None
                await asyncio.sleep(0.1)


def stop_bench_hub(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
