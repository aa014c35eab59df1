"""Fixtures for the dashboard's browser tests: a hub subprocess with a small
seeded county, halls driven over /ws/edge, and headless Debian Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.helpers import County, bench, make_county


@pytest.fixture(scope="session")
def chromium_available() -> None:
    if not Path(bench.CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory, chromium_available: None) -> Iterator[County]:
    tmp = tmp_path_factory.mktemp("county")
    yield from make_county(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(**bench.launch_args(""))
        try:
            yield b
        finally:
            b.close()
