"""`branchlive hub` as a subprocess on 127.0.0.1: the one harness the
benchmarks (wall, fingerprint) and the end-to-end and browser tests start
their hub with. It talks to the hub only over HTTP, like a browser does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from branchlive.probe import hub_is_up

ROOT = Path(__file__).resolve().parent.parent
# The generated first password is replaced by this one in every harness hub.
ADMIN_PASSWORD = "bench-admin-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """`branchlive hub` with its own data directory and embedded SQLite (a
    test's PostgreSQL URL is not inherited); stop() and start() again keep
    the port, so a restart is what a hall and a wall would see. The hub's
    output goes to `hub.log` in the data directory, quoted when it fails."""

    def __init__(self, data_dir: Path, port: int | None = None, *, media: bool = False,
                 admin_password: str = ADMIN_PASSWORD, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.media = media
        self.admin_password = admin_password
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "hub.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> HubProcess:
        env = {**os.environ, "BRANCHLIVE_ADMIN_PASSWORD": self.admin_password,
               "BRANCHLIVE_MEDIA__ENABLED": "true" if self.media else "false"}
        env.pop("BRANCHLIVE_DATABASE_URL", None)
        env.update(self.extra_env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(self.data_dir),
                 "--port", str(self.port), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"the hub exited with code {code}: {self.log_tail()}")
            if hub_is_up(self.url, timeout=1):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the hub did not answer within {timeout:g} s: {self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""
