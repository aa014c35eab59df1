"""Nothing blocks the hub's event loop: no database, disk or parsing work in
`async def` routes or bus callbacks. Two checks:

- static: every `async def` route is free of a session parameter and of
  database/file/parse calls outside the functions it hands to a thread;
- live: the real hub on uvicorn, driven through uploads, imports, exports,
  a roster change (the wall's bus callback) and edge check-ins, runs no SQL
  statement on its event loop's thread; and while two evidence uploads
  run, `/api/v1/auth/me` keeps answering within 1 s (a correctness bound:
  a blocked loop answers nothing until the upload is done).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from branchlive.simhall import EdgeClient
from hub.api.deps import get_session
from hub.api.limits import api_routes
from hub.app import create_app
from tests.hub.conftest import County, build_county, make_settings
from tests.hub.livehub import http, serve

# Calls that block: the database, the disk, parsers, hashing.
BLOCKING = {"session_factory", "execute", "scalar", "scalars", "commit", "flush", "get", "open", "read_bytes",
            "write_bytes", "read_text", "write_text", "load_workbook", "reader", "sha256", "import_roster",
            "import_households", "add_evidence", "xlsx_bytes"}
SAFE_RECEIVERS = {"headers", "cookies", "query_params", "app", "state", "request", "websocket", "dict", "body", "getattr"}


def _blocking_calls(fn: Any) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    top = tree.body[0]
    assert isinstance(top, ast.AsyncFunctionDef)
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue  # handed to a thread (to_thread / run_in_executor) or awaited separately
            if isinstance(child, ast.Call):
                f = child.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                receiver = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
                if name in BLOCKING and receiver not in SAFE_RECEIVERS:
                    found.append(f"{name}() at line {child.lineno}")
            visit(child)

    # The body only: decorators (`@router.get(...)`) and parameter defaults
    # (`Depends(...)`) run once, when the route is declared.
    visit(ast.Module(body=top.body, type_ignores=[]))
    return found


def _takes_session(dependant: Any) -> bool:
    return any(d.call is get_session for d in dependant.dependencies)


def test_async_routes_do_no_blocking_work(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url))
    offenders = []
    async_routes = 0
    for route in api_routes(app):
        if not inspect.iscoroutinefunction(route.endpoint):
            continue
        async_routes += 1
        where = f"{route.methods} {route.path} ({route.endpoint.__module__}.{route.endpoint.__name__})"
        if _takes_session(route.dependant):
            offenders.append(f"{where} takes a database session on the event loop")
        calls = _blocking_calls(route.endpoint)
        if calls:
            offenders.append(f"{where} calls {', '.join(calls)} on the event loop")
    assert async_routes >= 2  # the check is looking at something
    assert not offenders, "\n".join(offenders)


def test_the_static_check_catches_a_blocking_route() -> None:
    async def bad(session: Any) -> None:
        session.execute("SELECT 1")

    async def good(ctx: Any) -> None:
        def work() -> None:
            with ctx.session_factory() as s:
                s.execute("SELECT 1")
        await asyncio.to_thread(work)

    assert _blocking_calls(bad) == ["execute() at line 2"]
    assert _blocking_calls(good) == []


@pytest.fixture
def live(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Any, County, list[str]]]:
    """The hub on uvicorn, a county in it, and the SQL statements its event
    loop's thread ran (filled while the test runs)."""
    app = create_app(make_settings(tmp_path, db_url, supervision={"evidence_max_bytes": 16 * 1024 * 1024}))
    on_loop: list[str] = []
    with serve(app) as base, http(base) as client:
        loop_thread = next(t for t in threading.enumerate() if t.name == "live-hub")

        def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if threading.current_thread() is loop_thread:
                on_loop.append(statement.split("\n")[0][:120])

        county = build_county(client)  # type: ignore[arg-type]
        event.listen(app.state.ctx.engine, "before_cursor_execute", watch)
        try:
            yield base, app, county, on_loop
        finally:
            event.remove(app.state.ctx.engine, "before_cursor_execute", watch)


def _item(client: Any, county: County) -> int:
    r = client.post("/api/v1/rectifications", headers=county.admin, json={
        "branch_id": county.branches["东城一村"], "problem": "三会一课记录本未及时填写", "measures": "补记",
        "deadline": str(date.today() + timedelta(days=10)), "responsible": "刘书记"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_two_evidence_uploads_leave_the_hub_answering(live: tuple[str, Any, County, list[str]]) -> None:
    base, _app, county, on_loop = live
    with http(base) as client:
        item = _item(client, county)
    payload = bytes(range(256)) * (48 * 1024)  # 12 MiB each: seconds of hashing and writing on a busy machine
    done = threading.Event()
    worst = 0.0
    answers = 0

    def upload(n: int) -> int:
        with http(base) as c:
            r = c.post(f"/api/v1/rectifications/{item}/evidence", headers=county.admin,
                       files={"file": (f"照片{n}.jpg", payload, "image/jpeg")})
            return r.status_code

    def probe() -> None:
        nonlocal worst, answers
        with http(base) as c:
            while not done.is_set():
                t0 = time.monotonic()
                r = c.get("/api/v1/auth/me", headers=county.admin)
                assert r.status_code == 200, r.text
                worst = max(worst, time.monotonic() - t0)
                answers += 1

    with ThreadPoolExecutor(3) as pool:
        prober = pool.submit(probe)
        statuses = list(pool.map(upload, (1, 2)))
        done.set()
        prober.result()
    assert statuses == [201, 201]
    assert answers >= 2
    assert worst < 1.0, f"/api/v1/auth/me took {worst:.2f} s while two uploads ran"
    assert on_loop == [], on_loop[:5]


def test_no_sql_on_the_event_loop(live: tuple[str, Any, County, list[str]]) -> None:
    base, _app, county, on_loop = live
    admin = county.admin
    east = county.branches["东城一村"]
    with http(base) as client:
        item = _item(client, county)
        r = client.post(f"/api/v1/rectifications/{item}/evidence", headers=admin,
                        files={"file": ("照片.jpg", b"\xff\xd8" + b"x" * 1000, "image/jpeg")})
        assert r.status_code == 201, r.text
        roster = "姓名,党员编号\n刘一,D101\n陈二,D102\n".encode()
        r = client.post(f"/api/v1/branches/{east}/roster", headers=admin, files={"file": ("花名册.csv", roster, "text/csv")})
        assert r.status_code == 200, r.text
        ledger = "户主姓名,联系电话,所属党组织\n王大,13800000001,东城一村\n李二,13800000002,东城二村\n".encode()
        r = client.post("/api/v1/supervision/households/import", headers=admin,
                        files={"file": ("台账.csv", ledger, "text/csv")})
        assert r.status_code == 200, r.text
        r = client.post("/api/v1/supervision/spot-checks", headers=admin, json={"population": "households", "sample_size": 1, "label": "抽查",
                                                                     "ledger_id": r.json()["ledger"]["id"]})
        assert r.status_code == 201, r.text
        assert client.get(f"/api/v1/supervision/spot-checks/{r.json()['id']}/export.xlsx", headers=admin).status_code == 200
        assert client.get("/api/v1/rectifications/export.xlsx", headers=admin).status_code == 200
        assert client.get("/api/v1/auth/me", headers=admin).status_code == 200

        async def hall() -> None:
            edge = await EdgeClient(base, county.tokens["东城一村"]).connect()
            meeting = await edge.start_meeting()
            ack = await edge.checkin(meeting, county.members["张三"])
            assert ack and ack["ok"], ack
            await edge.end_meeting(meeting)
            await edge.close()

        asyncio.run(hall())
        with client.stream("GET", "/api/v1/auth/me", headers=admin) as r:
            assert r.status_code == 200
    assert on_loop == [], on_loop[:5]


def test_roster_change_reaches_the_wall_in_order(client: TestClient, county: County) -> None:
    """The wall re-reads a branch on a thread; its later events wait for it."""
    east = county.branches["东城一村"]
    with client.websocket_connect("/ws/wall", headers=county.admin) as wall:
        snap = wall.receive_json()
        before = next(t for t in snap["tiles"] if t["branch_id"] == east)["roster"]
        roster = "姓名,党员编号\n刘一,D101\n陈二,D102\n".encode()
        r = client.post(f"/api/v1/branches/{east}/roster", headers=county.admin, files={"file": ("花名册.csv", roster, "text/csv")})
        assert r.status_code == 200, r.text
        while True:
            m = wall.receive_json()
            tiles = [x["tile"] for x in (m["messages"] if m["type"] == "batch" else [m]) if x["type"] == "tile"]
            if any(t["branch_id"] == east and t["roster"] == before + 2 for t in tiles):
                break
