"""Deployment files: the compose file (rendered by `docker compose config`
or `docker-compose config` when one is installed, else read as YAML), the
Dockerfiles, and the systemd units written by `branchlive install-service`
(checked by `systemd-analyze verify`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "compose.yaml"


def rendered_compose() -> dict[str, Any]:
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None or subprocess.run([*cmd, "version"], capture_output=True).returncode:
            continue  # a docker client without the compose plugin
        res = subprocess.run([*cmd, "-f", str(COMPOSE), "--profile", "demo", "config"], capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, f"{' '.join(cmd)} config failed: {res.stderr}"
        return yaml.safe_load(res.stdout)  # type: ignore[no-any-return]
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _db_listens(db: dict[str, Any]) -> tuple[set[str], int]:
    cmd = db.get("command", [])
    cmd = cmd.split() if isinstance(cmd, str) else cmd
    opts = dict(c.split("=", 1) for c in cmd if "=" in c)
    return set(opts.get("listen_addresses", "*").split(",")), int(opts.get("port", _env(db).get("PGPORT", 5432)))


def test_hub_reaches_the_database_by_the_name_it_uses_on_a_shared_network() -> None:
    services = rendered_compose()["services"]
    hub, db = services["hub"], services["db"]
    url = make_url(_env(hub)["BRANCHLIVE_DATABASE_URL"])
    assert url.get_backend_name() == "postgresql" and url.database == _env(db)["POSTGRES_DB"]
    assert url.username == _env(db)["POSTGRES_USER"] and url.password == _env(db)["POSTGRES_PASSWORD"]
    if hub.get("network_mode") == "host":
        # host networking (WebRTC's UDP ports): the database must be on the host's network too,
        # listening on the address and port the hub uses
        assert db.get("network_mode") == "host", "the hub is on the host network and the database is not"
        addresses, port = _db_listens(db)
        assert url.host in addresses or "*" in addresses, (url.host, addresses)
        assert (url.port or 5432) == port
    else:
        assert url.host == "db" or url.host in db.get("networks", {}), url.host
        shared = set(hub.get("networks", {"default": None})) & set(db.get("networks", {"default": None}))
        assert shared, "hub and db share no network"
    assert hub["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in hub and "/ui/" in " ".join(hub["healthcheck"]["test"])
    assert services["halls"]["network_mode"] == "host"
    assert _env(services["halls"])["BRANCHLIVE_DATABASE_URL"] == _env(hub)["BRANCHLIVE_DATABASE_URL"]


def test_compose_check_can_fail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    del broken["services"]["db"]["network_mode"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(broken))
    monkeypatch.setitem(globals(), "COMPOSE", tmp_path / "c.yaml")
    with pytest.raises(AssertionError, match="database is not"):
        test_hub_reaches_the_database_by_the_name_it_uses_on_a_shared_network()


@pytest.mark.parametrize("name", ["Dockerfile.hub", "Dockerfile.edge"])
def test_dockerfiles_install_the_wheel_from_the_lock(name: str) -> None:
    text = (ROOT / "docker" / name).read_text()
    assert "pip wheel --no-deps" in text and "-c /dist/requirements.lock" in text
    extra = "${EXTRAS}" if name.endswith("hub") else "edge"
    assert f'branchlive-*.whl)[{extra}]"' in text
    assert "USER branchlive" in text
    if name.endswith("hub"):
        assert "HEALTHCHECK" in text and "ARG EXTRAS=hub" in text


def _verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_install_service_writes_units_that_systemd_accepts(tmp_path: Path) -> None:
    for kind in ("hub", "edge"):
        res = subprocess.run([sys.executable, "-m", "branchlive.cli", "install-service", kind, "--root",
                              str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert res.returncode == 0, res.stderr
    units = sorted((tmp_path / "etc/systemd/system").glob("*.service"))
    assert [u.name for u in units] == ["branchlive-edge.service", "branchlive-hub.service"]
    for unit in units:
        text = unit.read_text()
        assert "Restart=on-failure" in text and "User=branchlive" in text and "StandardOutput=journal" in text
        assert "StateDirectory=" in text and "@BIN@" not in text
        binary = next(line.split()[0].removeprefix("ExecStart=") for line in text.splitlines()
                      if line.startswith("ExecStart="))
        assert Path(binary).is_file()
    res = _verify(units)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    # the check can fail
    bad = tmp_path / "bad.service"
    bad.write_text(units[0].read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert "sometimes" in _verify([bad]).stderr


def test_starter_settings_files_load(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "branchlive.cli", "install-service", "hub", "--root", str(tmp_path)],
                   check=True, cwd=ROOT, capture_output=True, timeout=60)
    subprocess.run([sys.executable, "-m", "branchlive.cli", "install-service", "edge", "--root", str(tmp_path)],
                   check=True, cwd=ROOT, capture_output=True, timeout=60)
    hub = subprocess.run([sys.executable, "-c", "import sys; from hub.config import load_settings; "
                          "s = load_settings(sys.argv[1]); print(s.data_dir, s.port)",
                          str(tmp_path / "etc/branchlive/hub.toml")], capture_output=True, text=True, cwd=ROOT)
    assert hub.stdout.split() == ["/var/lib/branchlive", "8600"], hub.stderr
    # the edge's starter file refuses to run until the PIN is set
    edge = subprocess.run([sys.executable, "-m", "branchlive.cli", "edge", "--check", "--config",
                           str(tmp_path / "etc/branchlive/edge.toml")], capture_output=True, text=True, cwd=ROOT)
    assert edge.returncode == 2 and "admin_pin" in edge.stderr
