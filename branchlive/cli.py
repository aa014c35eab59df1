"""The `branchlive` console entry point.

Each subcommand lives in the package that owns it and is imported only when
called, so `branchlive fp-emulator` never loads FastAPI and `branchlive hub`
never loads pyserial or OpenCV. Every target is `module:function` taking the
remaining arguments and returning an exit code.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "hub": ("hub.cli:main", "run the county hub (API, WebSockets, media)"),
    "edge": ("devices.cli:main", "run a village hall's edge agent"),
    "backup": ("hub.backup.cli:backup_main", "write a consistent backup of the hub (safe while it runs)"),
    "restore": ("hub.backup.cli:restore_main", "restore a backup into a fresh hub"),
    "install-service": ("branchlive.service:main", "install the systemd unit of the hub or the edge agent"),
    "demo": ("branchlive.demo:main", "hub plus a simulated county of halls"),
    "bench": ("branchlive.bench:main", "benchmarks: api, checkin, fingerprint, edge, ingest, wall"),
    "fp-emulator": (
        "firmware_stubs.fingerprint.cli:main",
        "emulated UART fingerprint module on a pseudo-terminal",
    ),
    "camera-emulator": (
        "firmware_stubs.camera.cli:main",
        "emulated IP camera (MJPEG over HTTP, H.264 over RTSP)",
    ),
}


# Which extra each command needs, and a few modules that show it is installed.
NEEDS = {"hub": "hub", "backup": "hub", "restore": "hub", "edge": "edge", "fp-emulator": "edge",
         "camera-emulator": "edge", "demo": "hub,edge", "bench": "hub,edge"}
MARKERS = {"hub": ["fastapi", "sqlalchemy", "alembic"], "edge": ["cv2", "serial", "numpy"]}


def usage() -> str:
    lines = ["usage: branchlive <command> [options]", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {text}")
    lines.append("")
    lines.append("Run `branchlive <command> --help` for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"branchlive: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[name]
    module_name, func_name = target.split(":")
    extra = NEEDS.get(name)
    missing = [m for e in (extra or "").split(",") if e for m in MARKERS[e] if importlib.util.find_spec(m) is None]
    if missing:
        # A hall PC installs branchlive[edge], a server branchlive[hub].
        print(f"branchlive {name}: this installation lacks {', '.join(missing)}; install branchlive with the "
              f"extra this command needs: pip install -c requirements.lock 'branchlive[{extra}]'", file=sys.stderr)
        return 2
    module = importlib.import_module(module_name)
    return int(getattr(module, func_name)(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
