"""The hub's local media node processes, as `branchlive hub` starts them with
`media.workers = 2`: each in a session of its own (a terminal's Ctrl-C reaches
the hub alone, which stops them in order), and none outlives a hub killed
with SIGKILL (an orphaned node would go on answering its halls and recording
where the restarted hub cannot see it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from branchlive.hub_process import free_port
from tests.e2e.test_hall_agreement import until


def nodes_of(pid: int) -> list[int]:
    """The media node processes (multiprocessing spawn children) of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ui/", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_nodes_have_their_own_session_and_stop_when_the_hub_is_killed(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, BRANCHLIVE_MEDIA__WORKERS="2", BRANCHLIVE_ADMIN_PASSWORD="county-admin-pw")
    log = open(tmp_path / "hub.log", "wb")
    hub = subprocess.Popen([sys.executable, "-m", "branchlive.cli", "hub", "--host", "127.0.0.1",
                            "--port", str(port), "--data-dir", str(tmp_path / "data")],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    nodes: list[int] = []
    try:
        until(lambda: answers(f"http://127.0.0.1:{port}"), 120, "hub answering")
        nodes = until(lambda: (lambda n: n if len(n) == 2 else [])(nodes_of(hub.pid)), 60, "two media nodes")
        for pid in nodes:
            assert os.getsid(pid) == pid, "a media node shares the hub's session: Ctrl-C would reach it"
        hub.send_signal(signal.SIGKILL)
        hub.wait(20)
        until(lambda: not any(running(pid) for pid in nodes), 60, "media nodes gone after the hub's SIGKILL")
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait(20)
        for pid in nodes:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
