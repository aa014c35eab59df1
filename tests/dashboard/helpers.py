"""Helpers for the dashboard's browser tests: the wall bench module (hub
subprocess, seeding, simulated halls), a small county, a signed-in page."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("wall_bench", ROOT / "branchlive" / "wall_sim.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["wall_bench"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

TOWNSHIPS = {
    "城关镇": ["东风村党支部", "红星村党支部", "向阳社区党支部"],
    "青山镇": ["青山村党支部", "石门村党支部"],
}
OPERATOR_PASSWORD = "town-operator-1"


class County:
    """A running hub with townships, branches (each with an enrolled device) and an admin client."""

    def __init__(self, hub: Any, branches: list[Any]) -> None:
        self.hub = hub
        self.branches = branches
        self.edge = bench.EdgeLoop()
        self.sims: dict[int, Any] = {}

    @property
    def url(self) -> str:
        return self.hub.url

    def branch(self, name: str) -> Any:
        return next(b for b in self.branches if b.name == name)

    def hall(self, name: str) -> Any:
        """Connect (once) the edge agent of the named branch."""
        b = self.branch(name)
        if b.id not in self.sims:
            self.sims[b.id] = self.edge.run(bench.EdgeSim(self.url, b.token).connect())
        return self.sims[b.id]

    def run(self, coro: Any) -> Any:
        return self.edge.run(coro)

    def close(self) -> None:
        for sim in self.sims.values():
            try:
                self.edge.run(sim.close(), timeout=10)
            except Exception:  # noqa: BLE001 - the hub may already be gone
                pass
        self.edge.close()


def make_county(tmp: Path) -> Iterator[County]:
    hub = bench.HubProcess(tmp / "hub").start()
    county = None
    try:
        client = bench.admin_client(hub.url)
        try:
            branches = bench.seed_county(client, TOWNSHIPS, members_per_branch=6)
            town = branches[0].township_id
            r = client.post("/api/v1/operators", json={"username": "chengguan", "password": OPERATOR_PASSWORD,
                                                        "role": "township_operator", "scope_id": town, "display_name": "城关镇值班员"})
            assert r.status_code == 201, r.text
        finally:
            client.close()
        county = County(hub, branches)
        yield county
    finally:
        if county is not None:
            county.close()
        hub.stop()


def submit_login(page: Any) -> None:
    """Press 登录 once the shell's modules have loaded (the button is disabled
    until then). On a busy machine that can take long; wait on the condition."""
    page.wait_for_selector("#login-form button[type=submit]:not([disabled])", timeout=180_000)
    page.click("#login-form button[type=submit]")


def signed_in_page(browser: Any, url: str, username: str = "admin", password: str = bench.ADMIN_PASSWORD,
                   viewport: tuple[int, int] = (1920, 1080), bypass_csp: bool = True) -> Any:
    """A new context signed in through the login page, showing the wall.
    The tests' own `wait_for_function` probes are evaluated strings, which
    the hub's CSP forbids: they bypass it, except in test_csp.py."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                  bypass_csp=bypass_csp)
    page = context.new_page()
    page.goto(url + "/")
    page.fill("#login-user", username)
    page.fill("#login-pass", password)
    submit_login(page)
    page.wait_for_selector("#view-wall:not([hidden]) .tile", timeout=30_000)
    return page
