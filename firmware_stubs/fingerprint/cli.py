"""`branchlive fp-emulator`: run an emulated fingerprint module on a pty.

Prints the device path on the first line (the --link path if given, else the
/dev/pts/N node), then `pts=...` and `control=...`, and serves until SIGINT
or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .emulator import FingerprintEmulator
from .module import Timings
from .profiles import MODELS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="branchlive fp-emulator", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="R307", choices=sorted(MODELS), help="module model (default R307)")
    p.add_argument("--library", help="JSON file holding the library and system parameters (default: memory)")
    p.add_argument("--link", help="stable symlink to the pty, e.g. /tmp/fp0; survives unplug/replug")
    p.add_argument("--control", help="Unix socket path for the JSON control channel")
    p.add_argument("--capture-time", type=float, default=0.0, help="GenImg time in s (datasheet < 0.2)")
    p.add_argument("--extract-time", type=float, default=0.0, help="Img2Tz time in s (datasheet < 0.5)")
    p.add_argument("--datasheet-timings", action="store_true", help="capture 0.2 s, extraction 0.5 s")
    p.add_argument("--no-power-on-byte", action="store_true", help="do not send 0x55 at power-up")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    timings = Timings(capture=args.capture_time, extract=args.extract_time)
    if args.datasheet_timings:
        timings = Timings(capture=0.2, extract=0.5, search=0.1, reset=0.2)
    emulator = FingerprintEmulator(
        args.model,
        library_path=args.library,
        link=args.link,
        control_path=args.control,
        timings=timings,
        power_on_byte=not args.no_power_on_byte,
    )
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with emulator:
        print(emulator.device_path)
        print(f"pts={emulator.pts_path}")
        if args.control:
            print(f"control={args.control}")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
