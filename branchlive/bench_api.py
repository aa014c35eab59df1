"""API latency under a mixed concurrent load.

A hub runs in its own process (embedded SQLite unless --database-url). This
process first measures a cheap GET (`/api/v1/auth/me`) alone, then again
while `--clients` clients upload rectification evidence, import rosters and
import household ledgers in a loop. The figure is the GET's p99: a hub that
does blocking work on its event loop, or holds the SQLite write lock while
it parses, shows it here as seconds instead of milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from branchlive.bench_checkin import PASSWORD, free_port, seed, start_hub


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def probe(c: httpx.AsyncClient, headers: dict[str, str], stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        r = await c.get("/api/v1/auth/me", headers=headers)
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
        await asyncio.sleep(0.02)


async def drive(port: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        r.raise_for_status()
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        branches = [u for u in (await c.get("/api/v1/org-units", headers=h)).json() if u["kind"] == "branch"]
        r = await c.post("/api/v1/rectifications", headers=h, json={
            "branch_id": branches[0]["id"], "problem": "三会一课记录不全", "measures": "补记",
            "deadline": str(date.today() + timedelta(days=30)), "responsible": "书记"})
        r.raise_for_status()
        item = r.json()["id"]
        photo = b"\xff\xd8" + bytes(range(256)) * (args.upload_kib * 4)
        ledger = ("户主姓名,联系电话,所属党组织\n" + "".join(
            f"户主{i},138{i:08d},{branches[i % len(branches)]['name']}\n" for i in range(args.rows))).encode()
        roster = ("姓名,党员编号\n" + "".join(f"党员{i},BENCH{i:06d}\n" for i in range(args.rows // 10))).encode()

        async def one(n: int) -> int:
            kind = n % 3
            if kind == 0:
                r = await c.post(f"/api/v1/rectifications/{item}/evidence", headers=h,
                                 files={"file": (f"照片{n}.jpg", photo, "image/jpeg")})
            elif kind == 1:
                r = await c.post("/api/v1/supervision/households/import", headers=h,
                                 files={"file": ("台账.csv", ledger, "text/csv")})
            else:
                r = await c.post(f"/api/v1/branches/{branches[n % len(branches)]['id']}/roster", headers=h,
                                 files={"file": ("花名册.csv", roster, "text/csv")})
            return r.status_code

        quiet: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(probe(c, h, stop, quiet))
        await asyncio.sleep(args.seconds / 2)
        stop.set()
        await task

        loaded: list[float] = []
        statuses: list[int] = []
        stop = asyncio.Event()
        deadline = time.monotonic() + args.seconds

        async def client(n: int) -> None:
            while time.monotonic() < deadline:
                statuses.append(await one(n))

        task = asyncio.create_task(probe(c, h, stop, loaded))
        await asyncio.gather(*(client(n) for n in range(args.clients)))
        stop.set()
        await task
    ok = sum(1 for s in statuses if s < 300)
    return [
        {"measure": "GET /api/v1/auth/me p50, idle", "value": f"{statistics.median(quiet) * 1000:.1f} ms",
         "detail": f"{len(quiet)} requests", "target": ""},
        {"measure": "GET /api/v1/auth/me p99, idle", "value": f"{pct(quiet, 0.99) * 1000:.1f} ms", "detail": "", "target": ""},
        {"measure": f"GET /api/v1/auth/me p50, {args.clients} clients uploading/importing",
         "value": f"{statistics.median(loaded) * 1000:.1f} ms", "detail": f"{len(loaded)} requests", "target": ""},
        {"measure": f"GET /api/v1/auth/me p99, {args.clients} clients uploading/importing",
         "value": f"{pct(loaded, 0.99) * 1000:.1f} ms", "detail": f"max {max(loaded) * 1000:.0f} ms", "target": "<= 1,000 ms"},
        {"measure": "uploads + imports answered", "value": f"{ok}/{len(statuses)}",
         "detail": f"{ok / args.seconds:.1f}/s, statuses {sorted(set(statuses))}", "target": "all 2xx"},
    ]


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench api")
    parser.add_argument("--clients", type=int, default=20, help="clients uploading and importing at once")
    parser.add_argument("--seconds", type=float, default=20, help="length of the loaded run")
    parser.add_argument("--upload-kib", type=int, default=2048, help="size of each evidence upload")
    parser.add_argument("--rows", type=int, default=2000, help="rows of each household ledger (rosters get a tenth)")
    parser.add_argument("--database-url", help="run against this database instead of embedded SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        data_dir = Path(tmp)
        seed(data_dir, 20, 20)
        port = free_port()
        hub = start_hub(data_dir, port, args.database_url)
        try:
            rows = asyncio.run(drive(port, args))
        finally:
            hub.terminate()
            hub.wait(30)
    db = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    notes = (f"Hub in its own process on {db}, 20 halls seeded; this process runs the clients on 127.0.0.1. "
             f"A third of the clients upload {args.upload_kib} KiB evidence photos, a third import a "
             f"{args.rows}-row household ledger, a third a {args.rows // 10}-member roster, each in a loop; "
             "one more client GETs /api/v1/auth/me every 20 ms. Same figure idle for comparison.")
    return f"API latency under mixed load ({args.clients} clients uploading and importing)", rows, notes
