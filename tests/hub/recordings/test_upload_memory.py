"""A 300 MB upload without a valid device token costs the real hub (uvicorn,
in its own process) less than 20 MB of memory: it is refused before the body
is read, and nothing of it is buffered."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from branchlive.hub_process import free_port

ROOT = Path(__file__).resolve().parents[3]
MB = 1024 * 1024


def _memory(pid: int) -> tuple[int, int]:
    """(resident, peak resident) bytes of a process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


@contextlib.contextmanager
def hub_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = dict(os.environ, BRANCHLIVE_ADMIN_PASSWORD="county-admin-pw")
    log = open(tmp_path / "hub.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "branchlive.cli", "hub", "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # guards a hang only
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/v1/meeting-types", timeout=2).status_code < 500:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
            time.sleep(0.3)
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _put(base: str, size: int, headers: dict[str, str]) -> int | None:
    """PUT `size` bytes of body; the status, or None if the hub closed the
    connection while the body was still being sent (it did not want it)."""
    def body() -> Iterator[bytes]:
        block = b"\0" * MB
        for _ in range(size // MB):
            yield block

    url = f"{base}/api/v1/branches/1/segments/{uuid.uuid4()}"
    try:
        r = httpx.put(url, content=body(), timeout=120,
                      headers={**headers, "Content-Type": "video/mp4", "Content-Length": str(size)})
        return r.status_code
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None


@pytest.mark.slow
def test_300_mb_unauthenticated_upload_costs_the_hub_under_20_mb(tmp_path: Path) -> None:
    with hub_process(tmp_path) as (proc, base):
        for _ in range(3):  # warm up the code path (imports, first allocations)
            assert _put(base, 4 * MB, {"Authorization": "Bearer nope"}) in (401, None)
        rss0, peak0 = _memory(proc.pid)
        statuses = [_put(base, 300 * MB, {}), _put(base, 300 * MB, {"Authorization": "Bearer forged"})]
        rss1, peak1 = _memory(proc.pid)
        assert set(statuses) <= {401, None}, statuses
        assert httpx.get(base + "/api/v1/meeting-types", timeout=10).status_code < 500  # still serving
    print(f"statuses {statuses}; RSS {(rss1 - rss0) / MB:+.1f} MB, peak {(peak1 - peak0) / MB:+.1f} MB")
    assert rss1 - rss0 < 20 * MB, f"RSS grew by {(rss1 - rss0) / MB:.1f} MB"
    assert peak1 - peak0 < 20 * MB, f"peak RSS grew by {(peak1 - peak0) / MB:.1f} MB"
