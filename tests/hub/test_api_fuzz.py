"""Schemathesis against the hub's own OpenAPI document: every operation,
valid and invalid inputs, as a county admin, a township operator and with
no token, on SQLite and PostgreSQL. A 5xx is always a bug: bad input gets a
4xx that names the field. Bounded (a few examples per operation) so the run
takes minutes, not hours."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from hub.app import create_app
from tests.hub.conftest import County, build_county, make_settings
from tests.hub.livehub import http, serve

EXAMPLES = int(os.environ.get("BRANCHLIVE_FUZZ_EXAMPLES", "4"))
# Signing out would end the identity's session for the rest of the run.
SKIP = {("POST", "/api/v1/auth/logout")}


@pytest.fixture
def fuzz_app(tmp_path: Path, db_url: str) -> Iterator[tuple[Any, str, County]]:
    """The hub on uvicorn (real sockets; the app's lifespan runs once)."""
    app = create_app(make_settings(tmp_path, db_url))
    with serve(app) as base, http(base) as client:
        county = build_county(client)  # type: ignore[arg-type]
        yield app, base, county


def _fuzz(app: Any, base: str, headers: dict[str, str], statuses: Counter[int]) -> list[str]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()  # type: ignore[union-attr]  # an Err (invalid schema) raises here: a failure too
        if (op.method.upper(), op.path) in SKIP:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception:  # noqa: BLE001 - an operation with nothing to make invalid
                continue

            @given(case=strategy)
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                response = case.call(base_url=base, headers=headers, timeout=60)
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} {case.method} {case.formatted_path} "
                                    f"query={case.query} body={str(case.body)[:200]!s}: {response.text[:300]}")

            try:
                run()
            except Unsatisfiable:
                pass  # schemathesis could not build a case of this mode for it
    return failures


@pytest.mark.parametrize("who", ["county_admin", "township_operator", "nobody"])
def test_no_server_errors(fuzz_app: tuple[Any, str, County], who: str) -> None:
    app, base, county = fuzz_app
    headers = {"county_admin": county.admin, "township_operator": county.operators["东城镇"], "nobody": {}}[who]
    statuses: Counter[int] = Counter()
    failures = _fuzz(app, base, headers, statuses)
    print(who, dict(sorted(statuses.items())))
    assert sum(statuses.values()) > 300  # the run reached the operations
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:40])
