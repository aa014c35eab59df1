"""Fixtures shared by every test package.

Database tests run twice: on embedded SQLite and on the real PostgreSQL
server that scripts/test starts (BRANCHLIVE_TEST_PG_URL). Outside CI a
missing server skips the PostgreSQL half; in CI it is an error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("BRANCHLIVE_TEST_PG_URL")


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("BRANCHLIVE_TEST_PG_URL is not set: run the tests with scripts/test")
        pytest.skip("no PostgreSQL server (run scripts/test to start one)")
    reset_postgres(PG_URL)
    yield PG_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"
