"""Consistent snapshots of a hub and their restore (no asyncio: callers run
these in a thread).

A backup is one directory, `branchlive-backup-<UTC time>/`:

    manifest.json     written last; a directory without it is incomplete and ignored
    database.sqlite   SQLite's online backup API: consistent while the hub runs
    database.pgdump   or pg_dump's custom format (one transaction: consistent)
    files/...         the data directory: recordings, rectification evidence, the
                      fingerprint key; not the database files, not `uploads/`
                      (partial edge uploads, which the edges send again)
    config/<name>     the hub's TOML settings file, when the hub runs with one

The database is snapshotted first, the files after it: a recording finished
in between is in `files/` but not in the index (harmless), a recording the
retention deleted in between is listed under `missing` in the manifest.
Recordings are copied (`copy`; a file unchanged since the previous backup in
the same directory is hard-linked to it, so a daily backup costs only the
day's recordings) or only listed with their sizes (`reference`: back the
recordings disk up by other means and put it back before starting the hub).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, make_url, text

from hub.config import Settings

MANIFEST = "manifest.json"
FORMAT = 1
PREFIX = "branchlive-backup-"
SKIP_TOP = {"uploads"}
DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def release() -> str:
    try:
        return version("branchlive")
    except PackageNotFoundError:
        return "unknown"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what to do."""


@dataclass
class BackupResult:
    path: Path
    files: int = 0
    bytes: int = 0
    linked: int = 0
    referenced: int = 0
    missing: list[str] = field(default_factory=list)


@dataclass
class RestoreResult:
    files: int = 0
    missing_recordings: list[str] = field(default_factory=list)
    config: Path | None = None


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(u.database).resolve()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore; the password goes in the environment, not on the command line."""
    u = make_url(url)
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    u = u.set(drivername="postgresql", password=None)
    return u.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} is not installed: apt-get install postgresql-client "
                          "(its version must be at least the server's)")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise BackupError(f"{what} failed: {res.stderr.strip()[-2000:]}")


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def schema_heads(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return []
            return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def _dump_database(url: str, out: Path) -> dict[str, Any]:
    path = _sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise BackupError(f"no database at {path}: check --data-dir / --config")
        target = out / "database.sqlite"
        src = sqlite3.connect(path, timeout=60)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"the database copy failed its integrity check: check the disk holding {path}")
        finally:
            dst.close()
            src.close()
        return {"dialect": "sqlite", "file": target.name}
    dsn, env = _libpq(url)
    target = out / "database.pgdump"
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", f"--dbname={dsn}"],
         env, "pg_dump")
    return {"dialect": "postgresql", "file": target.name}


def _data_files(data_dir: Path, exclude: set[Path]) -> list[Path]:
    if not data_dir.is_dir():
        return []
    found: list[Path] = []
    for dirpath, dirs, files in os.walk(data_dir):
        here = Path(dirpath)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in exclude
                         and not (here == data_dir and d in SKIP_TOP) and not d.startswith("."))
        for name in sorted(files):
            path = here / name
            if path.resolve() not in exclude and not name.startswith("."):
                found.append(path)
    return found


def list_backups(parent: Path) -> list[Path]:
    """Complete backups in `parent`, oldest first."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).is_file())


@contextlib.contextmanager
def _exclusive(out_parent: Path) -> Iterator[None]:
    """One backup at a time per folder (the scheduler and a manual one); then
    the leftovers of a backup that was killed can be removed safely."""
    with open(out_parent / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another backup is being written into {out_parent}: wait for it") from None
        for stale in out_parent.glob(f".{PREFIX}*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


def create_backup(settings: Settings, out_parent: Path, *, recordings: str = "copy",
                  config_file: Path | None = None, link_dest: Path | None = None) -> BackupResult:
    if recordings not in {"copy", "reference"}:
        raise BackupError("recordings must be copy or reference")
    out_parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_parent):
        return _create(settings, out_parent, recordings, config_file, link_dest)


def _create(settings: Settings, out_parent: Path, recordings: str, config_file: Path | None,
            link_dest: Path | None) -> BackupResult:
    now = datetime.now(UTC)
    name = PREFIX + now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    final, partial = out_parent / name, out_parent / f".{name}.partial"
    if final.exists():
        raise BackupError(f"{final} already exists")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    result = BackupResult(path=final)
    try:
        url = settings.resolved_database_url
        database = _dump_database(url, partial)
        heads = schema_heads(f"sqlite:///{partial / database['file']}" if database["dialect"] == "sqlite" else url)
        data_dir = settings.data_dir.resolve()
        exclude = {out_parent.resolve(), partial.resolve()}
        db_path = _sqlite_path(url)
        if db_path is not None:
            exclude |= {Path(str(db_path) + s) for s in DB_SUFFIXES}
        entries = []
        for src in _data_files(data_dir, exclude):
            rel = src.relative_to(data_dir).as_posix()
            try:
                st = src.stat()
                entry: dict[str, Any] = {"path": rel, "size": st.st_size}
                if rel.startswith("recordings/") and recordings == "reference":
                    entry["copied"] = False
                    result.referenced += 1
                else:
                    dst = partial / "files" / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    prev = link_dest / "files" / rel if link_dest is not None else None
                    if (prev is not None and rel.startswith("recordings/") and prev.is_file()
                            and prev.stat().st_size == st.st_size and prev.stat().st_mtime_ns == st.st_mtime_ns):
                        os.link(prev, dst)
                        result.linked += 1
                    else:
                        shutil.copy2(src, dst)
                    entry["copied"] = True
                    result.files += 1
                    result.bytes += st.st_size
            except FileNotFoundError:
                result.missing.append(rel)  # deleted (retention) while the backup ran
                continue
            entries.append(entry)
        if config_file is not None:
            (partial / "config").mkdir()
            shutil.copy2(config_file, partial / "config" / config_file.name)
        manifest = {
            "format": FORMAT, "created_at": now.isoformat(), "branchlive_version": release(),
            "database": {**database, "schema_heads": heads}, "recordings": recordings,
            "files": entries, "missing": result.missing,
            "config": f"config/{config_file.name}" if config_file is not None else None,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
        _fsync_tree(partial)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return result


def prune(parent: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete backups (hard links keep shared recordings alive)."""
    backups = list_backups(parent)
    doomed = backups[:-keep] if keep > 0 else backups
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def read_manifest(backup: Path) -> dict[str, Any]:
    path = backup / MANIFEST
    if not path.is_file():
        raise BackupError(f"{backup} is not a complete branchlive backup (no {MANIFEST})")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{backup} has backup format {manifest.get('format')}; this branchlive reads format "
                          f"{FORMAT}: restore with the branchlive version that made it "
                          f"({manifest.get('branchlive_version')})")
    return manifest


def _target_is_empty(settings: Settings) -> str | None:
    """Why the target is not a fresh hub, or None."""
    url = settings.resolved_database_url
    db_path = _sqlite_path(url)
    if db_path is not None and db_path.exists() and db_path.stat().st_size > 0:
        return f"a database already exists at {db_path}"
    if db_path is None:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                tables = inspect(conn).get_table_names()
        finally:
            engine.dispose()
        if tables:
            return f"the database {make_url(url).render_as_string()} already has tables ({len(tables)})"
    if any(p.relative_to(settings.data_dir).parts[0] == "recordings"
           for p in _data_files(settings.data_dir, set())):
        return f"{settings.data_dir / 'recordings'} already holds recordings"
    return None


def restore_backup(backup: Path, settings: Settings, *, force: bool = False,
                   config_out: Path | None = None) -> RestoreResult:
    """Bring a fresh hub (empty data directory and database) to the state of `backup`.
    The hub must not be running. Its schema is migrated at the next start, so a
    backup of an older release restores into a newer hub."""
    manifest = read_manifest(backup)
    url = settings.resolved_database_url
    db_path = _sqlite_path(url)
    dialect = "sqlite" if db_path is not None else "postgresql"
    if manifest["database"]["dialect"] != dialect:
        raise BackupError(f"this backup holds a {manifest['database']['dialect']} database and the hub is "
                          f"configured for {dialect}: restore it into a hub with the same kind of database "
                          "(check database_url)")
    problem = _target_is_empty(settings)
    if problem and not force:
        raise BackupError(f"{problem}: restore goes into a fresh hub. Stop the hub and move the old data away, "
                          "or pass --force to overwrite it")
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    dump = backup / manifest["database"]["file"]
    if db_path is not None:
        for suffix in DB_SUFFIXES:
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        src, dst = sqlite3.connect(dump), sqlite3.connect(db_path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        dsn, env = _libpq(url)
        cmd = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={dsn}"]
        cmd += ["--clean", "--if-exists"] if force else ["--single-transaction"]
        _run([*cmd, str(dump)], env, "pg_restore")
    result = RestoreResult()
    for entry in manifest["files"]:
        target = data_dir / entry["path"]
        if not entry.get("copied"):
            if not (target.is_file() and target.stat().st_size == entry["size"]):
                result.missing_recordings.append(entry["path"])
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(backup / "files" / entry["path"], target)
        if target.stat().st_size != entry["size"]:
            raise BackupError(f"{entry['path']} in the backup has the wrong size: the backup is damaged")
        result.files += 1
    if manifest.get("config") and config_out is not None:
        config_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(backup / manifest["config"], config_out)
        result.config = config_out
    return result
