"""`branchlive demo`: the hub plus a simulated county, in one command.

Halls go live on a script: members check in one by one, thumbnails refresh,
meetings end. Open the printed address and sign in with the printed
account."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import signal
import sys
import time
from pathlib import Path

DEMO_PASSWORD = "branchlive-demo"


def thumbnail_maker():  # type: ignore[no-untyped-def]
    """A small synthetic camera picture per hall: a room, a row of people
    (as many as have arrived) and the time, encoded as JPEG."""
    import cv2
    import numpy as np

    def make(hall, frame_no: int) -> bytes:  # type: ignore[no-untyped-def]
        rng = random.Random(hall.branch_id)
        img = np.zeros((180, 320, 3), np.uint8)
        img[:] = (rng.randint(60, 120), rng.randint(70, 110), rng.randint(80, 140))
        cv2.rectangle(img, (0, 120), (320, 180), (50, 60, 70), -1)
        cv2.rectangle(img, (110, 20), (210, 70), (30, 30, 160), -1)  # the banner on the wall
        for i in range(min(frame_no, 24)):
            x, y = 20 + (i % 12) * 25, 105 + (i // 12) * 30
            cv2.circle(img, (x, y), 8, (150, 170, 200), -1)
            cv2.rectangle(img, (x - 9, y + 8), (x + 9, y + 28), (60, 50, 40), -1)
        cv2.putText(img, time.strftime("%H:%M:%S"), (215, 172), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        cv2.putText(img, f"#{hall.branch_id}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return bytes(buf) if ok else b""

    return make


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="branchlive demo", description="Run the hub with a simulated county.")
    parser.add_argument("--halls", type=int, default=12, help="number of village halls (default 12)")
    parser.add_argument("--townships", type=int, default=3, help="number of townships (default 3)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--data-dir", default="data/demo")
    parser.add_argument("--fresh", action="store_true", help="delete the demo's data first")
    parser.add_argument("--speed", type=float, default=1.0, help="run the halls' script faster (e.g. 5)")
    parser.add_argument("--no-history", action="store_true", help="skip the year of synthetic history")
    parser.add_argument("--real-halls", type=int, default=2,
                        help="how many halls run the real edge agent with an emulated fingerprint reader and a "
                             "test-pattern camera (default 2; the others are scripted over the edge protocol)")
    parser.add_argument("--halls-only", action="store_true",
                        help="do not start a hub: drive the halls against --hub (same database, e.g. BRANCHLIVE_DATABASE_URL)")
    parser.add_argument("--hub", default=None, help="with --halls-only: the hub's address, e.g. http://hub:8600")
    args = parser.parse_args(argv)
    if args.halls_only and not args.hub:
        parser.error("--halls-only needs --hub http://HOST:PORT")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from hub.config import ConfigError, load_settings
    from hub.db import DatabaseUnavailable

    data_dir = Path(args.data_dir)
    if args.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    try:
        settings = load_settings(None, data_dir=data_dir, host=args.host, port=args.port, admin_password=DEMO_PASSWORD,
                                 public_url=f"http://{args.host}:{args.port}")
        from hub.app import create_app, init_database, init_first_admin

        if args.halls_only:
            app, ctx = None, init_database(settings)
            init_first_admin(ctx)
        else:
            app = create_app(settings)
            ctx = app.state.ctx
    except (ConfigError, DatabaseUnavailable) as exc:
        print(f"branchlive demo: {exc}", file=sys.stderr)
        return 2
    from branchlive.seed import existing_halls, seed_county

    with ctx.session_factory() as s:
        from sqlalchemy import func, select

        from hub.organisations.models import OrgUnit

        seeded = bool(s.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.kind == "branch")))
    if seeded:
        halls = existing_halls(ctx.session_factory)
    else:
        print(f"Creating a county of {args.townships} townships and {args.halls} halls ...", flush=True)
        halls = seed_county(ctx.session_factory, townships=args.townships, halls=args.halls)
        if not args.no_history:
            try:
                from branchlive.history import seed_history
            except ImportError:
                pass
            else:
                print("Writing a year of meeting history ...", flush=True)
                seed_history(ctx.session_factory, settings)
    hub_url = args.hub.rstrip("/") if args.hub else f"http://{settings.host}:{settings.port}"
    return asyncio.run(_run(app, settings, halls, args.speed, hub_url, args.real_halls, data_dir))


async def _run(app, settings, halls, speed: float, url: str, real: int, data_dir: Path) -> int:  # type: ignore[no-untyped-def]
    import uvicorn

    from branchlive.realhall import PIN, RealHall
    from branchlive.simhall import SimHall

    server = serve = None
    if app is not None:
        from hub.runtime import settle_after_startup

        settle_after_startup()
        server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                                               proxy_headers=False))
        serve = asyncio.create_task(server.serve())
        while not server.started:
            if serve.done():
                return 2
            await asyncio.sleep(0.1)
    # The real halls' kiosk pages sit 100 ports above the hub (8700, 8701, ... by default).
    kiosk_ports = [settings.port + 100 + i for i in range(min(real, len(halls)))]
    print(f"""
  branchlive demo is running
    wall:      {url}/ui/
    API docs:  {url}/docs
    sign in:   user {settings.admin_username!r}, password {DEMO_PASSWORD!r}
    halls:     {len(halls)}: {min(real, len(halls))} with the real edge agent, emulated reader and camera
               (kiosk pages: {", ".join(f"http://127.0.0.1:{p}/" for p in kiosk_ports)}, PIN {PIN}),
               the others scripted over the edge protocol
  Ctrl-C to stop.
""", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    make = thumbnail_maker()
    from branchlive.simmedia import ClipPublisher

    media: ClipPublisher | None = ClipPublisher(url)
    if media is not None and not await media.start():
        media = None
    reals = [RealHall(h, url, data_dir / "halls", p) for h, p in zip(halls[:real], kiosk_ports, strict=True)]
    sims = [SimHall(url.replace("http", "ws", 1), h, thumbnail=make, media=media) for h in halls[real:]]

    async def run_real(hall: RealHall) -> None:
        try:
            await hall.start()
            await hall.run_script(stop, speed=speed)
        except Exception as exc:
            logging.getLogger("demo").warning("real hall %s stopped: %s", hall.hall.name, exc)

    async def run_hall(sim: SimHall) -> None:
        while not stop.is_set():
            try:
                await sim.connect()
                await sim.run_script(stop, speed=speed)
            except Exception as exc:  # the hub went away: try again, like a real hall
                logging.getLogger("demo").info("hall %s: %s; reconnecting", sim.hall.name, exc)
                await asyncio.sleep(2)
            finally:
                await sim.close()

    tasks = [asyncio.create_task(run_hall(s)) for s in sims] + [asyncio.create_task(run_real(r)) for r in reals]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(r.stop() for r in reals), return_exceptions=True)
    if media is not None:
        await media.stop()
    if server is not None and serve is not None:
        server.should_exit = True
        await serve
    return 0
