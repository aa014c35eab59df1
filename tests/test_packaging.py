"""What a county IT person installs: the wheel, its extras and the lock.

Fast checks: every requirement is pinned in requirements.lock, aiortc still
has every private attribute hub/media/passthrough.py uses, and each side
(hub, edge) imports without the other side's packages. The slow check is the
issue's "Done when": build the wheel, install it with the `hub` extra and with
the `edge` extra into clean virtual environments in a temporary directory,
run `branchlive hub` and `branchlive edge` (with the fingerprint emulator and
the pattern camera) from there, and fetch every page and asset they serve.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from branchlive.hub_process import free_port

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"

HUB_ONLY = ["fastapi", "sqlalchemy", "alembic", "psycopg", "openpyxl", "argon2", "prometheus_client",
            "multipart", "hub"]
EDGE_ONLY = ["cv2", "serial", "numpy", "devices", "firmware_stubs"]


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        pins[canonicalize_name(req.name)] = str(req.specifier)
    return pins


def test_lock_pins_every_requirement() -> None:
    project = _pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pins = _locked()
    missing = []
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name == "branchlive":
            continue
        if name not in pins or not pins[name].startswith("=="):
            missing.append(req.name)
    assert not missing, (
        f"not pinned in requirements.lock: {', '.join(missing)}; run "
        "`uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 -o requirements.lock`")


def test_aiortc_is_pinned_exactly_and_installed_at_that_version() -> None:
    from importlib.metadata import version

    dep = next(d for d in _pyproject()["project"]["dependencies"] if d.startswith("aiortc"))
    assert re.fullmatch(r"aiortc==[\w.]+", dep), f"aiortc must be pinned exactly in pyproject.toml, not {dep!r}"
    assert dep == f"aiortc=={version('aiortc')}", "the installed aiortc is not the pinned one: run scripts/test"


def _private_uses(source: str) -> tuple[set[str], set[str], set[str]]:
    """(receiver attributes, transport attributes, attributes the module itself
    assigns) among the private names hub/media/passthrough.py touches."""
    receiver: set[str] = set()
    transport: set[str] = set()
    own: set[str] = set()
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        own.add(func.name)  # a method of the module's own classes (fastpath's transport)
        first = func.args.args[0] if func.args.args else None
        self_is_transport = bool(first and isinstance(first.annotation, ast.Name)
                                 and first.annotation.id == "RTCDtlsTransport")
        for node in ast.walk(func):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                continue
            base = node.value
            if isinstance(base, ast.Attribute) and base.attr == "transport" or (
                    isinstance(base, ast.Name) and base.id == "transport"):
                transport.add(node.attr)
            elif isinstance(base, ast.Name) and base.id in {"self", "receiver"}:
                (transport if self_is_transport and base.id == "self" else receiver).add(node.attr)
                if isinstance(node.ctx, ast.Store) and not node.attr.startswith("_RTCRtpReceiver__"):
                    own.add(node.attr)
    return receiver, transport, own


def _has(cls: type, name: str) -> bool:
    """`cls` defines `name` as a class attribute or assigns it in a method
    (name-mangled attributes are looked up as written in aiortc's source)."""
    if hasattr(cls, name):
        return True
    written = "__" + name.split("__", 1)[1] if name.startswith(f"_{cls.__name__}__") else name
    return re.search(rf"\bself\.{re.escape(written)}\s*(:[^=\n]+)?=(?!=)", inspect.getsource(cls)) is not None


def test_aiortc_has_every_private_attribute_the_passthrough_uses() -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    from hub.media import fastpath, passthrough

    # the pass-through receiver and the fast receive path it installs (hub/media/fastpath.py)
    receiver, transport, own = _private_uses(Path(passthrough.__file__).read_text()
                                             + Path(fastpath.__file__).read_text())
    own |= set(vars(passthrough.PassThroughReceiver))
    assert any(n.startswith("_RTCRtpReceiver__") for n in receiver), "the scan found no private attribute"
    assert "_rtp_router" in transport, "the scan missed the transport's private attributes"
    missing = [f"RTCRtpReceiver.{n}" for n in sorted(receiver - own) if not _has(RTCRtpReceiver, n)]
    missing += [f"RTCDtlsTransport.{n}" for n in sorted(transport) if not _has(RTCDtlsTransport, n)]
    assert not missing, (f"the installed aiortc has no {', '.join(missing)}, which hub/media/passthrough.py "
                         "and hub/media/fastpath.py rely on: install the pinned aiortc (requirements.lock) or adapt the pass-through")


def test_private_attribute_check_can_fail() -> None:
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    assert _has(RTCRtpReceiver, "_RTCRtpReceiver__remote_streams")
    assert not _has(RTCRtpReceiver, "_RTCRtpReceiver__renamed_in_a_future_release")


def _import_everything(packages: list[str], forbidden: list[str]) -> subprocess.CompletedProcess[str]:
    """Import every module of `packages` in a fresh interpreter where `forbidden`
    top-level packages raise ImportError, as if they were not installed."""
    code = textwrap.dedent(f"""
        import importlib, importlib.abc, pkgutil, sys
        FORBIDDEN = set({forbidden!r})
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in FORBIDDEN:
                    raise ImportError(f'{{name}} is not installed on this side')
        sys.meta_path.insert(0, Block())
        for pkg in {packages!r}:
            mod = importlib.import_module(pkg)
            for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):
                if '.migrations' in info.name:
                    continue
                importlib.import_module(info.name)
    """)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_edge_side_imports_nothing_of_the_hub() -> None:
    res = _import_everything(["devices", "firmware_stubs"], HUB_ONLY)
    assert res.returncode == 0, res.stderr[-3000:]


def test_hub_side_imports_nothing_of_the_edge() -> None:
    res = _import_everything(["hub", "dashboard"], EDGE_ONLY)
    assert res.returncode == 0, res.stderr[-3000:]


def test_import_check_can_fail() -> None:
    res = _import_everything(["hub.app"], ["fastapi"])
    assert res.returncode != 0 and "fastapi is not installed" in res.stderr


# -- the wheel in clean virtual environments -----------------------------------------------------

def _web_assets(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the build leaves the tree alone)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("branchlive", "hub", "devices", "firmware_stubs", "dashboard"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=skip)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True, cwd=out, timeout=300)
    return next(out.glob("branchlive-*.whl"))


def clean_venv(where: Path, wheel: Path, extra: str) -> Path:
    """A virtual environment with nothing but the wheel and its `extra`, at the
    locked versions (uv's cache makes the second time fast)."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    venv = where / f"venv-{extra}"
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, cwd=where, env=env,
                   timeout=120)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-c", str(LOCK),
                    f"{wheel}[{extra}]"], check=True, cwd=where, env=env, timeout=600)
    return venv


class Proc:
    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        base = {k: v for k, v in os.environ.items()
                if k not in {"VIRTUAL_ENV", "PYTHONPATH"} and not k.startswith("BRANCHLIVE_")}
        self._out = log.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env={**base, **env}, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_http(self, url: str, timeout: float = 120) -> httpx.Response:
        """Poll until `url` answers; the timeout only guards against a hang."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                return httpx.get(url, timeout=5)
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"{url} did not answer:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


def _python_modules(venv: Path, *names: str) -> dict[str, bool]:
    code = "import importlib.util, sys; print(' '.join(str(importlib.util.find_spec(n) is not None) for n in sys.argv[1:]))"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, *names], check=True, capture_output=True,
                         text=True, cwd=venv).stdout.split()
    return dict(zip(names, (v == "True" for v in out), strict=True))


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_installed_wheel_serves_the_wall_and_the_kiosk(wheel: Path, tmp_path: Path, procs: list[Proc]) -> None:
    from branchlive.bench_fingerprint import ADMIN_PASSWORD, seed_branch

    work = tmp_path / "county"
    work.mkdir()
    hub_venv = clean_venv(work, wheel, "hub")
    edge_venv = clean_venv(work, wheel, "edge")
    hub_has = _python_modules(hub_venv, "fastapi", "sqlalchemy", "psycopg", "cv2", "serial", "numpy",
                              "hub.media._rx")
    # hub.media._rx: the compiled receive path travels in the wheel (built from hub/media/_rx.c)
    assert hub_has == {"fastapi": True, "sqlalchemy": True, "psycopg": True,
                       "cv2": False, "serial": False, "numpy": False, "hub.media._rx": True}, hub_has
    edge_has = _python_modules(edge_venv, "cv2", "serial", "fastapi", "sqlalchemy", "psycopg", "openpyxl")
    assert edge_has == {"cv2": True, "serial": True, "fastapi": False, "sqlalchemy": False,
                        "psycopg": False, "openpyxl": False}, edge_has

    # each side says which extra the other side's commands need
    wrong = subprocess.run([str(edge_venv / "bin" / "branchlive"), "backup", "x"], capture_output=True, text=True,
                           cwd=work)
    assert wrong.returncode == 2 and "'branchlive[hub]'" in wrong.stderr, wrong.stderr
    wrong = subprocess.run([str(hub_venv / "bin" / "branchlive"), "edge", "--check"], capture_output=True,
                           text=True, cwd=work)
    assert wrong.returncode == 2 and "'branchlive[edge]'" in wrong.stderr, wrong.stderr

    # -- the hub, from its own venv, cwd outside the source tree -----------------------------
    port = free_port()
    hub = Proc([str(hub_venv / "bin" / "branchlive"), "hub", "--port", str(port), "--data-dir", "hubdata"],
               cwd=work, env={"BRANCHLIVE_ADMIN_PASSWORD": ADMIN_PASSWORD}, log=work / "hub.log")
    procs.append(hub)
    url = f"http://127.0.0.1:{port}"
    r = hub.wait_http(f"{url}/ui/")
    assert r.status_code == 200
    assert r.text == (ROOT / "dashboard" / "index.html").read_text()
    for asset in _web_assets(ROOT / "dashboard"):
        got = httpx.get(f"{url}/ui/{asset}", timeout=10)
        assert got.status_code == 200, f"dashboard/{asset} is missing from the installed hub"
        assert got.content == (ROOT / "dashboard" / asset).read_bytes(), asset

    # -- an edge agent, from the edge venv, with the emulated reader and the pattern camera --
    seeded = seed_branch(url, [("张三", "001")])
    link = work / "fp0"
    emulator = Proc([str(edge_venv / "bin" / "branchlive"), "fp-emulator", "--link", str(link)],
                    cwd=work, env={}, log=work / "fp.log")
    procs.append(emulator)
    deadline = time.monotonic() + 60
    while not link.exists():
        assert emulator.proc.poll() is None and time.monotonic() < deadline, (work / "fp.log").read_text()
        time.sleep(0.1)
    kiosk_port = free_port()
    edge = Proc([str(edge_venv / "bin" / "branchlive"), "edge"], cwd=work, log=work / "edge.log", env={
        "BRANCHLIVE_EDGE_HUB_URL": url, "BRANCHLIVE_EDGE_ENROLMENT_CODE": seeded.enrolment_code,
        "BRANCHLIVE_EDGE_DATA_DIR": str(work / "edgedata"), "BRANCHLIVE_EDGE_ADMIN_PIN": "246810",
        "BRANCHLIVE_EDGE_READER_PORT": str(link), "BRANCHLIVE_EDGE_CAMERA_SOURCE": "pattern",
        "BRANCHLIVE_EDGE_KIOSK_PORT": str(kiosk_port), "BRANCHLIVE_EDGE_ICE_HOST_ADDRESSES": '["127.0.0.1"]'})
    procs.append(edge)
    kiosk = f"http://127.0.0.1:{kiosk_port}"
    r = edge.wait_http(f"{kiosk}/")
    assert r.status_code == 200 and "/static/kiosk.js" in r.text
    for asset in _web_assets(ROOT / "devices" / "kiosk" / "static"):
        got = httpx.get(f"{kiosk}/static/{asset}", timeout=10)
        assert got.status_code == 200, f"devices/kiosk/static/{asset} is missing from the installed agent"
        assert got.content == (ROOT / "devices" / "kiosk" / "static" / asset).read_bytes(), asset

    # The agent enrolled and says hello: the hub's fleet view lists it with its version.
    headers = {"Authorization": f"Bearer {seeded.token}"}
    deadline = time.monotonic() + 120
    while True:
        fleet = httpx.get(f"{url}/api/v1/fleet", headers=headers, timeout=10).json()
        agents = [d for d in fleet["devices"] if d["branch_id"] == seeded.branch_id and d["agent_version"]]
        if agents:
            break
        assert time.monotonic() < deadline, (work / "edge.log").read_text()[-4000:]
        time.sleep(0.3)
    assert agents[0]["agent_version"] == fleet["expected_agent_version"]
    assert agents[0]["outdated"] is False
