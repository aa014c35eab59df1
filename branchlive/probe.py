"""Is a hub process up? One probe for the demo, the benchmarks and the tests
that start `branchlive hub` as a subprocess."""

from __future__ import annotations

import httpx


def hub_is_up(base_url: str, timeout: float = 2.0) -> bool:
    """True once the hub answers HTTP: `/openapi.json` gives 200, or 401 where
    the document needs a session (it does by default)."""
    try:
        return httpx.get(base_url.rstrip("/") + "/openapi.json", timeout=timeout).status_code in (200, 401)
    except httpx.HTTPError:
        return False
