"""`branchlive fp-emulator` as a subprocess: device path on stdout, control socket, clean exit."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import serial


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    link, control = tmp_path / "fp0", tmp_path / "fp0.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "branchlive.cli", "fp-emulator", "--model", "R503",
         "--link", str(link), "--control", str(control), "--library", str(tmp_path / "lib.json")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link)
        assert proc.stdout.readline().startswith("pts=/dev/pts/")
        assert proc.stdout.readline().strip() == f"control={control}"
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(control))
            s.sendall(json.dumps({"finger": "member-17-right-index", "quality": "good"}).encode() + b"\n")
            assert json.loads(s.makefile().readline())["ok"] is True
        with serial.Serial(str(link), 57600, timeout=5) as port:
            port.write(bytes.fromhex("EF01 FFFFFFFF 01 0003 01 0005"))  # GenImg
            assert port.read(12) == bytes.fromhex("EF01 FFFFFFFF 07 0003 00 000A")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not link.exists() and not control.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
