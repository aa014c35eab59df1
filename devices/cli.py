"""`branchlive edge`: run a village hall's edge agent.

Settings come from `--config FILE.toml` and `BRANCHLIVE_EDGE_*` variables
(see `devices/config.py`); a bad setting stops the agent at once with one
line naming it. SIGINT/SIGTERM set the one stop event; the agent then closes
the kiosk, the uplink, the reader and the camera in order.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from devices.agent.errors import ConfigError, EdgeError
from devices.config import load_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="branchlive edge", description="Run a village hall's edge agent.")
    p.add_argument("--config", type=Path, help="TOML file with the settings (env vars override it)")
    p.add_argument("--check", action="store_true", help="validate the settings and exit")
    p.add_argument("--list-devices", action="store_true",
                   help="list the cameras, microphones and speakers of this PC (for camera_source, "
                        "audio_input, audio_output) and exit")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    return p


async def _run(settings: object) -> int:
    from devices.agent.app import EdgeApp

    app = EdgeApp(settings)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app.stop_event.set)
    try:
        await app.start()
        await app.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await app.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.list_devices:
        from devices.camera.alsa import format_devices, list_devices

        print(format_devices(list_devices()))
        return 0
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"branchlive edge: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"branchlive edge: settings OK (hub {settings.hub_url}, data {settings.data_dir})")
        return 0
    try:
        return asyncio.run(_run(settings))
    except (EdgeError, OSError) as exc:
        print(f"branchlive edge: {exc}", file=sys.stderr)
        return 1
