"""`branchlive hub`: run the county hub."""

from __future__ import annotations

import argparse
import logging
import sys

from hub.config import ConfigError, load_settings
from hub.db import DatabaseUnavailable


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="branchlive hub", description="Run the county hub.")
    parser.add_argument("--config", help="TOML settings file (every setting: docs/configuration.md)")
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8600)")
    parser.add_argument("--data-dir", help="data directory (default ./data)")
    parser.add_argument("--database-url", help="SQLAlchemy URL; default embedded SQLite")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "data_dir": args.data_dir,
                                   "database_url": args.database_url}.items() if v is not None}
    try:
        settings = load_settings(args.config, **overrides)
        from hub.app import create_app

        app = create_app(settings)
    except (ConfigError, DatabaseUnavailable) as exc:
        print(f"branchlive hub: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from hub.auth.http import uvicorn_proxy_options
    from hub.runtime import settle_after_startup

    settle_after_startup()

    # WebSocket pings every 2 s, dropped after 4 s without a pong: a hall whose
    # link was cut silently (no FIN) shows offline within 10 s.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level, ws_max_size=4 * 1024 * 1024,
                ws_ping_interval=2.0, ws_ping_timeout=4.0, **uvicorn_proxy_options(settings))
    return 0
