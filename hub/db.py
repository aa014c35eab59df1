"""Storage: the SQLAlchemy engine, sessions, declarative base and migrations.

SQLite (WAL, synchronous=FULL: a committed check-in survives a power cut) is
the embedded default; PostgreSQL is used by URL. The schema is owned by
Alembic (hub/migrations); `migrate()` runs at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    SmallInteger,
    String,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapper, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ValueOutOfRange(ValueError):
    """A value that does not fit its column (too long, too large). Checked
    before every ORM insert and update, so SQLite (which stores anything)
    and PostgreSQL (which raises a DataError) refuse the same values."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.detail = field, detail


_INT_RANGES = [(BigInteger, 2**63), (SmallInteger, 2**15), (Integer, 2**31)]


def _check_bounds(mapper: Mapper[Any], target: Any) -> None:
    values = target.__dict__
    table = getattr(mapper.class_, "__tablename__", mapper.class_.__name__)
    for prop in mapper.column_attrs:
        value = values.get(prop.key)
        if value is None or isinstance(value, bool):
            continue
        col_type = prop.columns[0].type
        if isinstance(value, str) and isinstance(col_type, String) and col_type.length and len(value) > col_type.length:
            raise ValueOutOfRange(f"{table}.{prop.key}",
                                  f"at most {col_type.length} characters (got {len(value)})")
        if isinstance(value, int):
            for kind, bound in _INT_RANGES:
                if isinstance(col_type, kind):
                    if not -bound <= value < bound:
                        raise ValueOutOfRange(f"{table}.{prop.key}",
                                              f"must be between {-bound} and {bound - 1}")
                    break


@event.listens_for(Base, "before_insert", propagate=True)
def _bounds_on_insert(mapper: Mapper[Any], _conn: Any, target: Any) -> None:
    _check_bounds(mapper, target)


@event.listens_for(Base, "before_update", propagate=True)
def _bounds_on_update(mapper: Mapper[Any], _conn: Any, target: Any) -> None:
    _check_bounds(mapper, target)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which has no time zones)
    and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message says what to check."""


# How long a SQLite writer waits for the lock before the request fails with
# 503 "busy, try again": short, so a stuck writer shows instead of freezing
# every request behind it for half a minute.
SQLITE_BUSY_MS = 10_000


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Members' names and phones: readable by the hub's user only
            # (SQLite gives its -wal and -shm files the database's mode).
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            for part in (path, f"{path}-wal", f"{path}-shm"):
                if os.path.exists(part):
                    os.chmod(part, 0o600)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
                               # Writers wait for the lock holding a connection: enough for every
                               # worker thread, so a read never waits for a connection behind them.
                               pool_size=8, max_overflow=64, pool_timeout=SQLITE_BUSY_MS / 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.close()
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions
            # begin, so SAVEPOINTs work (the documented pysqlite recipe).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # A pure read (see read_session): in WAL mode a deferred
                # transaction reads a snapshot and never waits for the writer.
                conn.exec_driver_sql("BEGIN")
                return
            # IMMEDIATE: take the write lock at the start, so two sessions
            # that read then write queue on busy_timeout instead of one
            # failing with "database is locked" (a deferred transaction
            # cannot upgrade once another writer has committed). SQLite has
            # one writer anyway; the check-in path batches to make that cheap.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{reason}. Check that the server is running and BRANCHLIVE_DATABASE_URL is right."
        ) from None


class SchemaTooNew(DatabaseUnavailable):
    """The database was migrated by a newer branchlive than this one."""


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def check_schema_not_newer(engine: Engine) -> None:
    """Refuse a database that a newer release has migrated: its schema may
    have changed in ways this code does not know, and Alembic cannot go on
    from a revision it has never heard of."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    known = {rev.revision for rev in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    unknown = sorted(current - known)
    if unknown:
        from importlib.metadata import PackageNotFoundError, version

        try:
            mine = version("branchlive")
        except PackageNotFoundError:
            mine = "this version"
        raise SchemaTooNew(
            f"the database at {engine.url.render_as_string(hide_password=True)} has schema revision(s) "
            f"{', '.join(unknown)}, made by a newer branchlive than {mine}. Do not downgrade a hub: install the "
            "release that upgraded the database again (pip install -c requirements.lock 'branchlive[hub]==<that "
            "version>'), or restore a backup taken before the upgrade (`branchlive restore`) into a fresh database."
        )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revisions (domain packages may
    add their own branch of migrations from 0001_core; all heads are applied).
    Raises SchemaTooNew on a database from a newer release."""
    from alembic import command

    check_schema_not_newer(engine)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


READ_ONLY = "branchlive_read_only"


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads only: on SQLite its transactions do not take the
    write lock, so a sign-in check never queues behind an import."""
    session = factory()
    try:
        session.connection(execution_options={READ_ONLY: True})
        yield session
    finally:
        session.rollback()
        session.close()


@event.listens_for(Session, "before_flush")
def _upgrade_read_only(session: Session, _context: Any, _instances: Any) -> None:
    """A read-only SQLite transaction about to write (a GET that records an
    audit entry): end the read snapshot and take the write lock, waiting on
    the busy timeout. Writing from the old snapshot would fail at once with
    SQLITE_BUSY_SNAPSHOT if anyone committed since it began."""
    if not (session.new or session.dirty or session.deleted) or session.info.get("upgraded"):
        return
    conn = session.connection()
    if conn.dialect.name == "sqlite" and conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("COMMIT")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        session.info["upgraded"] = True


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
