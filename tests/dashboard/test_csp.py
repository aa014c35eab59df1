"""The pages work in real Chromium under the hub's Content-Security-Policy:
the wall (its socket opened with a one-time ticket), the supervision pages,
and the API docs served by the hub itself. Any CSP violation fails."""

from __future__ import annotations

from typing import Any

from tests.dashboard.helpers import County, signed_in_page


def test_pages_run_under_the_csp(county: County, browser: Any) -> None:
    # No CSP bypass here: the pages run exactly as an operator's browser runs them.
    page = signed_in_page(browser, county.url, bypass_csp=False)  # tiles shown: the ticketed socket works
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.reload()
    page.wait_for_selector("#view-wall:not([hidden]) .tile", timeout=30_000)
    page.wait_for_selector("#clock:not(:empty)", timeout=30_000)  # clock.js (no longer inline) runs
    page.goto(county.url + "/ui/supervision/")  # the old address: into the shell's supervision pages
    page.wait_for_selector("#view-page svg.chart", timeout=30_000)
    page.goto(county.url + "/ui/#/supervision/reports")
    page.wait_for_selector("#view-page .stats", timeout=30_000)
    page.goto(county.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=60_000)
    page.goto(county.url + "/redoc")
    page.wait_for_selector("redoc [role=menuitem], redoc h1, redoc h2", timeout=60_000)
    # ReDoc's footer links a logo on its CDN: blocked, as everything outside the hub is.
    assert [v for v in violations if "cdn.redoc.ly" not in v] == []
    # Signed out, the docs are refused.
    context = browser.new_context()
    try:
        assert context.new_page().goto(county.url + "/docs").status == 401
    finally:
        context.close()
