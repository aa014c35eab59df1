"""Backup and restore, the way a county IT person does it: a running hub
(`branchlive hub` subprocess) with an organisation, members, a meeting with
check-ins from an edge and a recording uploaded by it is backed up with
`branchlive backup` while it runs; `branchlive restore` puts the backup into
a fresh data directory (and, on PostgreSQL, a fresh database); the restored
hub answers the API exactly as the original did and plays the same
recording. Then the scheduled backups and their retention."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from branchlive.bench_fingerprint import ADMIN_PASSWORD, free_port, seed_branch
from branchlive.probe import hub_is_up
from branchlive.simhall import EdgeClient
from hub.app import create_app
from hub.backup.snapshot import BackupError, create_backup, list_backups, prune, restore_backup
from hub.db import make_engine, migrate
from hub.recordings.files import SegmentSpec, SegmentWriter
from tests.hub.conftest import make_settings
from tests.hub.media.peers import make_clip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


class Hub:
    def __init__(self, data_dir: Path, db_url: str) -> None:
        self.data_dir, self.db_url, self.port = data_dir, db_url, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRANCHLIVE_")}
        env |= {"BRANCHLIVE_ADMIN_PASSWORD": ADMIN_PASSWORD, "BRANCHLIVE_MEDIA__ICE_HOST_ADDRESSES": '["127.0.0.1"]'}
        self.proc = subprocess.Popen([sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(self.data_dir),
                                      "--database-url", self.db_url, "--port", str(self.port),
                                      "--log-level", "warning"], env=env, cwd=ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the hub exited with {self.proc.returncode}"
            if hub_is_up(self.url):
                return
            time.sleep(0.1)
        raise AssertionError("the hub did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


@pytest.fixture
def hubs() -> Iterator[list[Hub]]:
    started: list[Hub] = []
    yield started
    for h in started:
        h.stop()


@pytest.fixture
def fresh_db(db_url: str) -> Iterator[str]:
    """Where the restore goes: another SQLite file, or a new PostgreSQL database on the same server."""
    if db_url.startswith("sqlite"):
        yield db_url.replace("hub.db", "restored/hub.db")
        return
    name = f"branchlive_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(db_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANCHLIVE_")}
    return subprocess.run([sys.executable, "-m", "branchlive.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


async def populate(hub_url: str, tmp: Path) -> dict[str, str]:
    """An organisation, members, a meeting with check-ins from the edge, and a recording it uploaded."""
    seeded = seed_branch(hub_url, [("张三", "001"), ("李四", "002"), ("王五", "003")])
    token = httpx.post(f"{hub_url}/api/v1/devices/enrol", json={"code": seeded.enrolment_code}).json()["token"]
    edge = await EdgeClient(hub_url, token).connect()
    try:
        meeting = await edge.start_meeting("theme_day", "学习党章")
        for name in ("张三", "李四"):
            await edge.checkin(meeting, seeded.members[name])
        started = datetime.now(UTC)
        clip = make_clip(tmp / "clip", "h264")
        seg_id = str(uuid.uuid4())
        from hub.media.bitstream import h264_dimensions, h264_parameter_sets, is_keyframe

        key = clip.video[0]
        spec = SegmentSpec(seg_id, seeded.branch_id, meeting, started + timedelta(milliseconds=100), "h264",
                           *h264_dimensions(key), h264_parameter_sets(key), False)
        w = SegmentWriter(tmp / "edge-seg", spec)
        w.write([("video", d, i * 6000, is_keyframe("h264", d)) for i, d in enumerate(clip.video[:30])])
        data = w.finish().path.read_bytes()
        r = httpx.put(f"{hub_url}/api/v1/branches/{seeded.branch_id}/segments/{seg_id}", content=data, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "video/mp4", "X-Meeting-Id": meeting,
            "X-Segment-Started-At": spec.started_at.isoformat(),
            "X-Segment-Sha256": hashlib.sha256(data).hexdigest()}, timeout=60)
        assert r.status_code == 201, r.text
        await edge.end_meeting(meeting)
    finally:
        await edge.close()
    return {"token": seeded.token, "branch": str(seeded.branch_id), "meeting": meeting, "segment": seg_id}


def answers(hub_url: str, ids: dict[str, str]) -> dict[str, object]:
    """What an operator sees, with a fresh login (operators are restored too)."""
    login = httpx.post(f"{hub_url}/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    h = {"Authorization": f"Bearer {login.json()['token']}"}
    m, b = ids["meeting"], ids["branch"]
    got: dict[str, object] = {}
    for path in ("/api/v1/org-units", f"/api/v1/branches/{b}/members", f"/api/v1/meetings/{m}",
                 f"/api/v1/meetings/{m}/attendance", f"/api/v1/meetings/{m}/recording"):
        r = httpx.get(hub_url + path, headers=h, timeout=30)
        assert r.status_code == 200, (path, r.text)
        got[path] = r.json()
    playlist = httpx.get(f"{hub_url}/api/v1/meetings/{m}/playlist.m3u8", headers=h, timeout=30)
    assert playlist.status_code == 200 and f"segments/{ids['segment']}.mp4" in playlist.text
    got["playlist"] = playlist.text
    seg = httpx.get(f"{hub_url}/api/v1/meetings/{m}/segments/{ids['segment']}.mp4", headers=h, timeout=30)
    assert seg.status_code == 200 and len(seg.content) > 1000
    got["segment"] = hashlib.sha256(seg.content).hexdigest()
    return got


async def test_backup_of_a_running_hub_restores_into_a_fresh_one(
        tmp_path: Path, db_url: str, fresh_db: str, hubs: list[Hub]) -> None:
    original = Hub(tmp_path / "data", db_url)
    hubs.append(original)
    original.start()
    ids = await populate(original.url, tmp_path)
    before = await asyncio.to_thread(answers, original.url, ids)
    assert len(before[f"/api/v1/meetings/{ids['meeting']}/attendance"]) == 2  # type: ignore[arg-type]

    config = tmp_path / "hub.toml"
    config.write_text('late_grace_minutes = 15\n')
    res = cli("backup", str(tmp_path / "backups"), "--data-dir", str(original.data_dir), "--database-url", db_url,
              "--config", str(config))
    assert res.returncode == 0, res.stderr
    [backup] = list_backups(tmp_path / "backups")
    assert any(p.suffix == ".mp4" for p in (backup / "files" / "recordings").rglob("*"))
    original.stop()

    restored_dir = tmp_path / "fresh-machine" / "data"
    res = cli("restore", str(backup), "--data-dir", str(restored_dir), "--database-url", fresh_db,
              "--config-out", str(tmp_path / "fresh-machine" / "hub.toml"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "fresh-machine" / "hub.toml").read_text() == config.read_text()
    # every file of the data directory came back (recordings, the fingerprint-backup key...)
    kept = {p.relative_to(original.data_dir): p.read_bytes() for p in original.data_dir.rglob("*")
            if p.is_file() and not p.name.startswith("branchlive.db")
            and "uploads" not in p.relative_to(original.data_dir).parts}
    assert kept and {p: (restored_dir / p).read_bytes() for p in kept} == kept
    # a second restore over it is refused unless forced
    again = cli("restore", str(backup), "--data-dir", str(restored_dir), "--database-url", fresh_db)
    assert again.returncode == 2 and "restore goes into a fresh hub" in again.stderr

    restored = Hub(restored_dir, fresh_db)
    hubs.append(restored)
    restored.start()
    after = await asyncio.to_thread(answers, restored.url, ids)
    assert after == before


def test_restore_checks_what_it_is_given(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    with TestClient(create_app(settings)):
        pass
    backup = create_backup(settings, tmp_path / "b").path
    with pytest.raises(BackupError, match="not a complete branchlive backup"):
        restore_backup(tmp_path / "b", settings)
    pg = make_settings(tmp_path / "other", "postgresql+psycopg://x@127.0.0.1:1/x")
    with pytest.raises(BackupError, match="holds a sqlite database and the hub is configured for postgresql"):
        restore_backup(backup, pg)
    with pytest.raises(BackupError, match="already exists"):
        restore_backup(backup, settings)


def test_recordings_by_reference_are_listed_not_copied(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    with TestClient(create_app(settings)):
        pass
    seg = settings.data_dir / "recordings" / "3" / "m" / "a.mp4"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(b"x" * 5000)
    backup = create_backup(settings, tmp_path / "b", recordings="reference").path
    assert not (backup / "files" / "recordings").exists()
    fresh = make_settings(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh' / 'hub.db'}")
    result = restore_backup(backup, fresh)
    assert result.missing_recordings == ["recordings/3/m/a.mp4"]


def test_unchanged_recordings_are_linked_and_retention_keeps_the_newest(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    with TestClient(create_app(settings)):
        pass
    seg = settings.data_dir / "recordings" / "3" / "m" / "a.mp4"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(b"x" * 5000)
    made = []
    for _ in range(3):
        previous = list_backups(tmp_path / "b")
        made.append(create_backup(settings, tmp_path / "b", link_dest=previous[-1] if previous else None))
    assert [r.linked for r in made] == [0, 1, 1]
    first, last = made[0].path / "files" / "recordings/3/m/a.mp4", made[2].path / "files" / "recordings/3/m/a.mp4"
    assert first.stat().st_ino == last.stat().st_ino
    assert prune(tmp_path / "b", 2) == [made[0].path]
    assert list_backups(tmp_path / "b") == [made[1].path, made[2].path]
    assert last.read_bytes() == b"x" * 5000


def test_scheduled_backups_run_in_the_hub_and_keep_the_newest(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, backup={"dir": tmp_path / "scheduled", "every_hours": 0.0003,
                                                           "keep": 2})
    with TestClient(create_app(settings)):
        seen: set[Path] = set()
        deadline = time.monotonic() + 120
        while len(seen) < 4:  # four backups made; two kept (three just before a prune)
            now = list_backups(tmp_path / "scheduled")
            assert len(now) <= 3
            seen |= set(now)
            assert time.monotonic() < deadline, f"only {len(seen)} scheduled backups"
            time.sleep(0.05)


def test_a_backup_killed_midway_leaves_no_backup_and_the_next_one_cleans_up(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    engine = make_engine(sqlite_url)
    migrate(engine)
    engine.dispose()
    out = tmp_path / "b"
    # Hold the database so the backup stops inside its snapshot, deterministically.
    holder = sqlite3.connect(tmp_path / "hub.db", isolation_level=None, timeout=60)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("DELETE FROM audit_log WHERE id < 0")
    proc = subprocess.Popen([sys.executable, "-m", "branchlive.cli", "backup", str(out), "--data-dir",
                             str(settings.data_dir), "--database-url", sqlite_url], cwd=ROOT,
                            env={k: v for k, v in os.environ.items() if not k.startswith("BRANCHLIVE_")})
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".branchlive-backup-*.partial")):
            assert proc.poll() is None and time.monotonic() < deadline, "the backup did not start"
            time.sleep(0.01)
        proc.kill()  # kill -9 in the middle of the backup
        proc.wait(30)
    finally:
        holder.close()
    assert list_backups(out) == []  # nothing that looks like a backup
    result = create_backup(settings, out)
    assert list_backups(out) == [result.path]
    assert not list(out.glob(".branchlive-backup-*.partial"))


def test_a_failing_scheduled_backup_does_not_take_the_hub_down(tmp_path: Path, sqlite_url: str) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings = make_settings(tmp_path, sqlite_url, backup={"dir": blocker / "backups", "every_hours": 0.0003})
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "county-admin-pw"})
        assert r.status_code == 200
        task = next(t for t in asyncio.all_tasks(client.portal.call(asyncio.get_running_loop))  # type: ignore[union-attr]
                    if t.get_name() == "scheduled-backup")
        assert not task.done()
