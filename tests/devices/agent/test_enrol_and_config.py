"""Enrolment against a small HTTP hub on 127.0.0.1, and the settings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devices.agent.errors import ConfigError
from devices.agent.uplink import Uplink, UplinkConfig, UplinkState
from devices.cli import main
from devices.config import load_settings
from tests.devices.agent.conftest import OpenParts, fast_backoff
from tests.devices.agent.fakehub import FakeHub


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def enrol_server() -> AsyncIterator[str]:
    async def enrol(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("code") != "ABCD-1234":
            return JSONResponse({"title": "unknown code"}, status_code=404)
        return JSONResponse({"device_id": "d1", "branch_id": 7, "token": "good-token"})

    app = Starlette(routes=[Route("/api/v1/devices/enrol", enrol, methods=["POST"])])
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(_started(server), 10)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _started(server: uvicorn.Server) -> None:
    while not server.started:
        await asyncio.sleep(0.01)


async def test_enrolment_stores_token_0600_then_goes_online(
    open_parts: OpenParts, hub: FakeHub, tmp_path: Path
) -> None:
    parts = await open_parts()
    async with enrol_server() as base:
        config = UplinkConfig(ws_url=hub.url, enrol_url=base + "/api/v1/devices/enrol",
                              token_path=tmp_path / "data" / "device-token",
                              enrolment_code="ABCD-1234", backoff=fast_backoff())
        uplink = Uplink(config, parts.outbox, parts.roster)
        stop = asyncio.Event()
        task = asyncio.create_task(uplink.run(stop))
        try:
            await uplink.wait_state(UplinkState.ONLINE)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    token_file = tmp_path / "data" / "device-token"
    assert token_file.read_text() == "good-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600


async def test_refused_enrolment_code(open_parts: OpenParts, tmp_path: Path) -> None:
    parts = await open_parts()
    async with enrol_server() as base:
        config = UplinkConfig(ws_url="ws://127.0.0.1:9/ws/edge",
                              enrol_url=base + "/api/v1/devices/enrol",
                              token_path=tmp_path / "device-token", enrolment_code="WRONG",
                              backoff=fast_backoff())
        uplink = Uplink(config, parts.outbox, parts.roster)
        stop = asyncio.Event()
        task = asyncio.create_task(uplink.run(stop))
        try:
            await uplink.wait_state(UplinkState.ENROLMENT_FAILED)
            assert "new code" in (uplink.last_error or "")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert not (tmp_path / "device-token").exists()


def test_settings_from_toml_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text('hub_url = "https://hub.county:8443/"\nvideo_fps = 10\nkiosk_port = 9000\n')
    monkeypatch.setenv("BRANCHLIVE_EDGE_KIOSK_PORT", "9100")
    s = load_settings(cfg)
    assert s.ws_url == "wss://hub.county:8443/ws/edge"
    assert s.enrol_url == "https://hub.county:8443/api/v1/devices/enrol"
    assert s.video_fps == 10 and s.kiosk_port == 9100


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("video_fps = 0\n", "bad setting video_fps (env BRANCHLIVE_EDGE_VIDEO_FPS)"),
        ("vidoe_fps = 10\n", "bad setting vidoe_fps (env BRANCHLIVE_EDGE_VIDOE_FPS): unknown"),
        ('admin_pin = "12a"\n', "bad setting admin_pin"),
        ('hub_url = "hub:8000"\n', "bad setting hub_url"),
    ],
)
def test_bad_settings_one_readable_line(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_cli_check_reports_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHLIVE_EDGE_KIOSK_PORT", "70000")
    assert main(["--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("branchlive edge: bad setting kiosk_port")
    assert len(err.splitlines()) == 1
    monkeypatch.delenv("BRANCHLIVE_EDGE_KIOSK_PORT")
    monkeypatch.setenv("BRANCHLIVE_EDGE_DATA_DIR", str(tmp_path))
    assert main(["--check"]) == 0
