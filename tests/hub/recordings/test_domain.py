"""Recordings as their own domain on the real hub (real auth, real
database, both SQLite and PostgreSQL) with the live media plane switched
off: uploads from the hall's device are checked before their body is read,
land only in that branch's meetings, survive `recordings/` being on another
filesystem, and play and export; flagging is for operators only, audited."""

from __future__ import annotations

import errno
import io
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from hub.recordings import files
from tests.hub.conftest import OPERATOR_PASSWORD, County, login
from tests.hub.media.peers import Clip
from tests.hub.recordings.helpers import segment_bytes, upload_headers


def start_meeting(client: TestClient, county: County, branch: str) -> tuple[str, datetime]:
    r = client.post(f"/api/v1/branches/{county.branches[branch]}/meetings", headers=county.admin,
                    json={"meeting_type": "theme_day", "topic": "录像", "scheduled_start": datetime.now(UTC).isoformat()})
    assert r.status_code == 201, r.text
    meeting_id = r.json()["id"]
    r = client.post(f"/api/v1/meetings/{meeting_id}/start", headers=county.admin)
    assert r.status_code == 200, r.text
    return meeting_id, datetime.fromisoformat(r.json()["started_at"])


def put_segment(client: TestClient, county: County, branch: str, token_branch: str, meeting_id: str,
                data: bytes, started_at: datetime) -> tuple[str, object]:
    seg_id = str(uuid.uuid4())
    r = client.put(f"/api/v1/branches/{county.branches[branch]}/segments/{seg_id}", content=data,
                   headers=upload_headers(county.tokens[token_branch], meeting_id, started_at, data))
    return seg_id, r


def test_recordings_work_with_live_media_off(client: TestClient, county: County, h264_clip: Clip,
                                             edge_dir: Path) -> None:
    assert client.app.state.ctx.media is None  # type: ignore[attr-defined]
    meeting_id, started = start_meeting(client, county, "东城一村")
    for i in range(3):  # three 2 s segments uploaded by the hall, the middle one without audio
        at = started + timedelta(seconds=2 * i)
        _, r = put_segment(client, county, "东城一村", "东城一村", meeting_id,
                           segment_bytes(edge_dir, h264_clip, at, audio=i != 1), at)
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    info = client.get(f"/api/v1/meetings/{meeting_id}/recording", headers=county.admin).json()
    assert [s["source"] for s in info["segments"]] == ["backfill"] * 3
    assert info["covered_seconds"] == pytest.approx(6.0, abs=0.05)
    assert info["seconds_played_twice"] == 0 and info["gaps"] == []
    playlist = client.get(f"/api/v1/meetings/{meeting_id}/playlist.m3u8", headers=county.admin)
    assert playlist.status_code == 200 and playlist.text.count("#EXTINF") == 3
    r = client.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=county.admin)
    assert r.status_code == 200, r.text
    with av.open(io.BytesIO(r.content)) as c:
        assert c.streams.video and c.streams.audio
        assert len(list(c.decode(video=0))) == 90
    # the township operator of another township sees nothing of it
    assert client.get(f"/api/v1/meetings/{meeting_id}/recording",
                      headers=county.operators["西山乡"]).status_code == 403
    assert client.get(f"/api/v1/meetings/{meeting_id}/recording").status_code == 401


def test_a_device_cannot_write_into_another_branchs_meeting(client: TestClient, county: County,
                                                            h264_clip: Clip, edge_dir: Path) -> None:
    meeting_id, started = start_meeting(client, county, "东城一村")
    data = segment_bytes(edge_dir, h264_clip, started)
    # 西山一村's device, on its own branch's address, into 东城一村's meeting: refused
    _, r = put_segment(client, county, "西山一村", "西山一村", meeting_id, data, started)
    assert r.status_code == 422 and r.json()["code"] == "wrong_branch", r.text  # type: ignore[attr-defined]
    # ... and on 东城一村's address with its own token: not its branch
    _, r = put_segment(client, county, "东城一村", "西山一村", meeting_id, data, started)
    assert r.status_code == 403  # type: ignore[attr-defined]
    # a meeting the hub has never heard of is not taken over either
    _, r = put_segment(client, county, "西山一村", "西山一村", str(uuid.uuid4()), data, started)
    assert r.status_code == 404  # type: ignore[attr-defined]
    # start times far outside the meeting (a wrong clock): refused with what to check
    for wrong in (started - timedelta(hours=2), datetime(9999, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)):
        _, r = put_segment(client, county, "东城一村", "东城一村", meeting_id, data, wrong)
        assert r.status_code == 422 and "时钟" in r.json()["detail"], r.text  # type: ignore[attr-defined]
    info = client.get(f"/api/v1/meetings/{meeting_id}/recording", headers=county.admin).json()
    assert info["segments"] == []


def test_unauthenticated_upload_is_refused_before_its_body(client: TestClient, county: County) -> None:
    meeting_id, started = start_meeting(client, county, "东城一村")
    read = []

    def body():  # noqa: ANN202 - a generator the server would have to pull
        for _ in range(64):
            read.append(1)
            yield b"\0" * 65536

    r = client.put(f"/api/v1/branches/{county.branches['东城一村']}/segments/{uuid.uuid4()}", content=body(),
                   headers={"Content-Type": "video/mp4", "X-Meeting-Id": meeting_id,
                            "Content-Length": str(64 * 65536)})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_upload_across_filesystems(client: TestClient, county: County, h264_clip: Clip, edge_dir: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`recordings/` on another disk: a rename out of `uploads/` fails with EXDEV;
    the hub copies, fsyncs and renames within the target instead."""
    real_replace = os.replace
    crossed = []

    def replace(src: object, dst: object) -> None:
        if "uploads" in str(src) and "recordings" in str(dst):
            crossed.append(dst)
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "replace", replace)
    meeting_id, started = start_meeting(client, county, "东城一村")
    data = segment_bytes(edge_dir, h264_clip, started)
    seg_id, r = put_segment(client, county, "东城一村", "东城一村", meeting_id, data, started)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert crossed
    stored = list((client.app.state.ctx.settings.data_dir / "recordings").rglob(f"*{seg_id}.mp4"))  # type: ignore[attr-defined]
    assert len(stored) == 1 and stored[0].read_bytes() == data
    assert not list((client.app.state.ctx.settings.data_dir / "uploads").rglob("*.*"))  # type: ignore[attr-defined]


def test_only_operators_flag_and_unflag_is_audited(client: TestClient, county: County, h264_clip: Clip,
                                                   edge_dir: Path) -> None:
    meeting_id, started = start_meeting(client, county, "东城一村")
    _, r = put_segment(client, county, "东城一村", "东城一村", meeting_id,
                       segment_bytes(edge_dir, h264_clip, started), started)
    assert r.status_code == 201  # type: ignore[attr-defined]
    r = client.post("/api/v1/operators", headers=county.admin, json={
        "username": "guest", "password": OPERATOR_PASSWORD, "role": "viewer",
        "scope_id": county.townships["东城镇"]})
    assert r.status_code == 201, r.text
    viewer = login(client, "guest", OPERATOR_PASSWORD)
    url = f"/api/v1/meetings/{meeting_id}/recording/flagged"
    assert client.put(url, json={"flagged": True}).status_code == 401
    assert client.put(url, json={"flagged": False}, headers=viewer).status_code == 403
    township = county.operators["东城镇"]
    assert client.put(url, json={"flagged": True}, headers=township).status_code == 200
    assert client.put(url, json={"flagged": False}, headers=county.admin).status_code == 200
    log = client.get("/api/v1/audit", headers=county.admin)
    assert log.status_code == 200, log.text
    actions = [(e["actor"], e["action"]) for e in log.json()]
    assert ("dongcheng", "recording.flag") in actions and ("admin", "recording.unflag") in actions
