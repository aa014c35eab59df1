"""`branchlive bench <name>`: measure, print a table, and record it in
docs/benchmarks.md (one section per benchmark, with date and machine).

Speed is measured here, never asserted in tests: the machines are shared
and noisy, so compare ratios taken in one run."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

BENCHES = {
    "api": "branchlive.bench_api:run",
    "checkin": "branchlive.bench_checkin:run",
    "fingerprint": "branchlive.bench_fingerprint:run",
    "edge": "branchlive.bench_edge:run",
    "ingest": "branchlive.bench_ingest:run",
    "wall": "branchlive.bench_wall:run",
}
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cols), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in cells)])


def record(name: str, title: str, command: str, rows: list[dict[str, Any]], notes: str = "") -> str:
    section = (f"## {name}: {title}\n\n_{time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}_\n\n"
               f"Command: `{command}`\n\n{table(rows)}\n" + (f"\n{notes.strip()}\n" if notes else ""))
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nWritten by `branchlive bench`; each section is replaced by its next run.\n"
    pattern = re.compile(rf"^## {re.escape(name)}:.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    DOC.write_text(text)
    return section


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="branchlive bench", description="Run a benchmark and record it in docs/benchmarks.md.")
    parser.add_argument("name", choices=sorted(BENCHES), help="which benchmark")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="options of that benchmark (try NAME --help)")
    ns = parser.parse_args(argv)
    module_name, func = BENCHES[ns.name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"branchlive bench: {ns.name} is not available in this build ({exc})", file=sys.stderr)
        return 2
    result = getattr(module, func)(ns.args)
    if result is None:
        return 1
    title, rows, notes = result
    command = "branchlive bench " + " ".join([ns.name, *ns.args])
    print(table(rows))
    if notes:
        print("\n" + notes.strip())
    record(ns.name, title, command, rows, notes)
    print(f"\nrecorded in {DOC}")
    return 0
