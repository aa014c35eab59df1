"""Check-in throughput and latency over /ws/edge.

A hub runs in its own process on embedded SQLite (the default). This
process plays N halls, each on its own WebSocket, and one operator's wall.
- throughput: every hall sends check-ins as fast as the hub acknowledges
  them (pipelined, up to `window` in flight per hall); the figure is
  acknowledged, committed check-ins per second;
- latency: check-ins at a fixed total rate, spread over the halls; the
  figure is from the hall's send (`ts` in the message) to the wall
  socket's delivery of that check-in, both clocks on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from branchlive.hub_process import free_port
from branchlive.probe import hub_is_up
from branchlive.simhall import SimHall, message

PASSWORD = "bench-admin-pw"


def seed(data_dir: Path, halls: int, members: int) -> list[Any]:
    from branchlive.seed import seed_county
    from hub.app import init_database, init_first_admin
    from hub.config import Settings

    settings = Settings(data_dir=data_dir, admin_password=PASSWORD, media={"enabled": False})  # type: ignore[arg-type]
    ctx = init_database(settings)
    init_first_admin(ctx)
    out = seed_county(ctx.session_factory, townships=10, halls=halls, members=(members, members))
    ctx.engine.dispose()
    return out


def start_hub(data_dir: Path, port: int, database_url: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BRANCHLIVE_ADMIN_PASSWORD": PASSWORD, "BRANCHLIVE_MEDIA__ENABLED": "false"}
    cmd = [sys.executable, "-m", "branchlive.cli", "hub", "--data-dir", str(data_dir), "--port", str(port), "--log-level", "warning"]
    if database_url:
        cmd += ["--database-url", database_url]
    proc = subprocess.Popen(cmd, env=env)
    for _ in range(300):
        if hub_is_up(f"http://127.0.0.1:{port}", timeout=1):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the hub did not start")


class Wall:
    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, int], float] = {}

    async def run(self, port: int, token: str, ready: asyncio.Event) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/wall", additional_headers={"Authorization": f"Bearer {token}"},
                                      max_size=None, max_queue=None) as ws:
            async for raw in ws:
                now = time.time()
                msg = json.loads(raw)
                ready.set()
                for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                    if m["type"] == "checkin":
                        self.arrivals[(m["meeting_id"], m["member_id"])] = now


async def throughput(sims: list[SimHall], seconds: float, window: int) -> tuple[int, float]:
    done = 0
    stop_at = time.monotonic() + seconds

    async def hall(sim: SimHall) -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            meeting_id = await sim.start_meeting("theme_day", "bench")
            members = list(sim.hall.members)
            for i in range(0, len(members), window):
                if time.monotonic() >= stop_at:
                    return
                acks = await asyncio.gather(*(sim.checkin(meeting_id, m) for m in members[i : i + window]))
                done += sum(1 for a in acks if a and a["ok"])
            await sim.end_meeting(meeting_id)

    t0 = time.monotonic()
    await asyncio.gather(*(hall(s) for s in sims))
    return done, time.monotonic() - t0


async def latency(sims: list[SimHall], wall: Wall, rate: float, seconds: float) -> list[float]:
    meetings = {id(s): await s.start_meeting("theme_day", "latency") for s in sims}
    queue = [(s, m) for s in sims for m in s.hall.members]
    random.Random(1).shuffle(queue)
    sent: dict[tuple[str, int], float] = {}
    n = min(len(queue), int(rate * seconds))
    t0 = time.monotonic()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sim, member = queue[i]
        msg = message("checkin", meeting_id=meetings[id(sim)], member_id=member, method="fingerprint", checked_in_at=time.time())
        sent[(msg["meeting_id"], member)] = msg["ts"]
        tasks.append(asyncio.create_task(sim.send_message(msg)))
    await asyncio.gather(*tasks)
    for _ in range(100):
        if all(k in wall.arrivals for k in sent):
            break
        await asyncio.sleep(0.1)
    return [(wall.arrivals[k] - t) * 1000 for k, t in sent.items() if k in wall.arrivals]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def drive(port: int, halls: list[Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    token = r.json()["token"]
    wall = Wall()
    ready = asyncio.Event()
    wall_task = asyncio.create_task(wall.run(port, token, ready))
    await asyncio.wait_for(ready.wait(), 60)
    sims = [SimHall(f"ws://127.0.0.1:{port}", h) for h in halls]
    for i in range(0, len(sims), 50):
        await asyncio.gather(*(s.connect() for s in sims[i : i + 50]))
    rows = []
    done, elapsed = await throughput(sims, args.seconds, args.window)
    rows.append({"measure": "durable check-ins/s (max, pipelined)", "value": f"{done / elapsed:,.0f}",
                 "detail": f"{done} acked in {elapsed:.1f} s by {len(sims)} halls", "target": ">= 2,000"})
    await asyncio.sleep(3)  # let the throughput run's backlog (wall sockets, WAL checkpoint) drain first
    lat = await latency(sims, wall, args.rate, args.seconds)
    rows.append({"measure": f"edge send -> wall p50 at {args.rate:g}/s", "value": f"{statistics.median(lat):.1f} ms" if lat else "-",
                 "detail": f"{len(lat)} check-ins delivered", "target": ""})
    rows.append({"measure": f"edge send -> wall p99 at {args.rate:g}/s", "value": f"{pct(lat, 99):.1f} ms" if lat else "-",
                 "detail": f"max {max(lat):.1f} ms" if lat else "", "target": "<= 100 ms"})
    wall_task.cancel()
    await asyncio.gather(*(s.close() for s in sims), return_exceptions=True)
    return rows


def run(argv: list[str]) -> tuple[str, list[dict[str, Any]], str]:
    parser = argparse.ArgumentParser(prog="branchlive bench checkin")
    parser.add_argument("--halls", type=int, default=500)
    parser.add_argument("--members", type=int, default=40, help="members per hall")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200, help="check-ins per second for the latency run")
    parser.add_argument("--window", type=int, default=8, help="check-ins in flight per hall in the throughput run")
    parser.add_argument("--database-url", help="run against this database instead of embedded SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-checkin-") as tmp:
        data_dir = Path(tmp)
        print(f"seeding {args.halls} halls x {args.members} members ...", flush=True)
        halls = seed(data_dir, args.halls, args.members)
        port = free_port()
        hub = start_hub(data_dir, port, args.database_url)
        try:
            rows = asyncio.run(drive(port, halls, args))
        finally:
            hub.terminate()
            hub.wait(30)
    db = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    notes = (f"Hub in its own process on {db}; {args.halls} halls and one wall socket in this process, "
             "on 127.0.0.1. A check-in counts when the hub has committed it and acknowledged it; "
             "latency is from the hall's send to the wall socket's delivery.")
    return f"check-ins over /ws/edge ({args.halls} halls)", rows, notes
