"""Device enrolment and the device token on disk.

At first start the agent has a one-time enrolment code and no token; it
exchanges the code at `POST {hub}/api/v1/devices/enrol` and keeps the token
in `<data_dir>/<token_file>` with mode 0600 (written to a temporary file and
renamed, so a crash never leaves half a token).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from devices.agent.errors import EnrolmentError


@dataclass(frozen=True)
class Enrolment:
    device_id: str
    branch_id: str
    token: str


class EnrolmentRefused(EnrolmentError):
    """The hub answered 4xx: the code is wrong, used or expired (retrying won't help)."""


def _write_token_sync(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _read_token_sync(path: Path) -> str | None:
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        return None
    return token or None


async def write_token(path: Path, token: str) -> None:
    await asyncio.wait_for(asyncio.to_thread(_write_token_sync, path, token), 10)


async def read_token(path: Path) -> str | None:
    return await asyncio.wait_for(asyncio.to_thread(_read_token_sync, path), 10)


async def enrol(url: str, code: str, *, timeout: float = 10.0) -> Enrolment:
    """Exchange the enrolment code; raise `EnrolmentRefused` on 4xx, else
    `EnrolmentError` for anything worth retrying later."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await asyncio.wait_for(client.post(url, json={"code": code}), timeout)
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        raise EnrolmentError(f"cannot reach the hub for enrolment ({exc!r}); will retry") from exc
    if 400 <= response.status_code < 500:
        detail = response.text[:200]
        raise EnrolmentRefused(
            f"the hub refused the enrolment code (HTTP {response.status_code}: {detail}); "
            "ask the county operators for a new code"
        )
    if response.status_code >= 300:
        raise EnrolmentError(f"enrolment failed with HTTP {response.status_code}; will retry")
    try:
        body = response.json()
        return Enrolment(
            device_id=str(body["device_id"]),
            branch_id=str(body["branch_id"]),
            token=str(body["token"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise EnrolmentError(f"enrolment answer is not as expected: {exc!r}") from exc
