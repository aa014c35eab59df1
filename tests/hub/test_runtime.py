"""The hub process freezes what start-up made, so that the garbage collector
stops visiting it (hub/runtime.py): checked on a real `branchlive hub`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from branchlive.hub_process import free_port
from tests.hub.conftest import ADMIN_PASSWORD
from tests.hub.test_durability import start_hub


def test_the_hub_process_freezes_its_startup_objects(tmp_path: Path) -> None:
    port = free_port()
    hub = start_hub(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/api/v1/auth/login",
                           json={"username": "admin", "password": ADMIN_PASSWORD}).json()["token"]
        text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}).text
        frozen = re.search(r"^branchlive_gc_frozen_objects (\S+)$", text, re.M)
        assert frozen is not None, "no branchlive_gc_frozen_objects in /metrics"
        # the modules, classes and routes of a hub are well over 50,000 objects
        assert float(frozen.group(1)) > 50_000, frozen.group(0)
    finally:
        hub.kill()
        hub.wait(10)
