"""`branchlive install-service hub|edge`: install the systemd unit of the hub
or of a hall's edge agent on a plain Debian machine.

It creates the system user `branchlive`, writes the unit (ExecStart is the
`branchlive` next to this Python), a starter settings file in /etc/branchlive
if there is none, then enables and starts the service. Logs go to the
journal (`journalctl -u branchlive-hub`). `--root DIR` writes under DIR
instead and touches nothing else (packaging and tests)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

STARTER = {
    "hub": """# branchlive hub settings: every setting is in docs/configuration.md.
data_dir = "/var/lib/branchlive"
host = "0.0.0.0"
port = 8600
# For a county, PostgreSQL (empty = SQLite in data_dir):
# database_url = "postgresql+psycopg://branchlive:PASSWORD@127.0.0.1/branchlive"

[media]
# The address(es) halls and browsers reach this machine at:
# ice_host_addresses = ["10.0.0.5"]

[backup]
# dir = "/srv/branchlive-backups"
# every_hours = 24
# keep = 7
""",
    "edge": """# branchlive edge agent settings: every setting is in docs/configuration.md.
data_dir = "/var/lib/branchlive-edge"
hub_url = "http://10.0.0.5:8600"
# enrolment_code = "K7QP-M3XD"   # from the county operators, used once
admin_pin = "CHANGE-ME"
reader_port = "/dev/ttyUSB0"
camera_source = "0"
""",
}


def unit_text(kind: str, binary: str) -> str:
    template = (resources.files("branchlive") / "deploy" / f"branchlive-{kind}.service").read_text()
    return template.replace("@BIN@", binary)


def _binary() -> str:
    found = Path(sys.executable).parent / "branchlive"
    return str(found if found.exists() else (shutil.which("branchlive") or found))


def _run(cmd: list[str]) -> None:
    print("+ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="branchlive install-service", description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["hub", "edge"])
    p.add_argument("--root", type=Path, help="write the files under this directory only (no user, no systemctl)")
    p.add_argument("--no-start", action="store_true", help="install and enable, but do not start now")
    args = p.parse_args(argv)
    root = args.root or Path("/")
    if args.root is None and os.geteuid() != 0:
        print("branchlive install-service: run it as root (sudo)", file=sys.stderr)
        return 2
    name = f"branchlive-{args.kind}"
    unit = root / "etc/systemd/system" / f"{name}.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(unit_text(args.kind, _binary()))
    print(f"wrote {unit}")
    config = root / "etc/branchlive" / f"{args.kind}.toml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(STARTER[args.kind])
        config.chmod(0o640)
        print(f"wrote {config}: edit it before the first start")
    if args.root is not None:
        return 0
    if subprocess.run(["id", "-u", "branchlive"], capture_output=True).returncode != 0:
        _run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/branchlive",
              "--shell", "/usr/sbin/nologin", "branchlive"])
    if args.kind == "edge":
        _run(["usermod", "-aG", "dialout,video,audio", "branchlive"])
    shutil.chown(config, "root", "branchlive")
    # systemd's StateDirectory makes it at the first start; `branchlive restore` may come before
    data = Path("/var/lib/branchlive" if args.kind == "hub" else "/var/lib/branchlive-edge")
    data.mkdir(mode=0o750, exist_ok=True)
    shutil.chown(data, "branchlive", "branchlive")
    _run(["systemctl", "daemon-reload"])
    _run(["systemctl", "enable", name] if args.no_start else ["systemctl", "enable", "--now", name])
    print(f"logs: journalctl -u {name} -f")
    return 0
