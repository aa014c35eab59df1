"""An operator given a password (new account, or a reset) signs in and is
asked for a password of their own before anything else, in real Chromium
under the hub's CSP."""

from __future__ import annotations

from typing import Any

from tests.dashboard.helpers import County, bench, submit_login


def test_a_given_password_is_changed_at_the_first_sign_in(county: County, browser: Any) -> None:
    client = bench.admin_client(county.url)
    try:
        town = county.branches[0].township_id
        r = client.post("/api/v1/operators", json={"username": "newbie", "password": "given-pw-123", "role": "viewer",
                                                   "scope_id": town, "must_change_password": True})
        assert r.status_code == 201, r.text
    finally:
        client.close()
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(county.url + "/")
        page.fill("#login-user", "newbie")
        page.fill("#login-pass", "given-pw-123")
        submit_login(page)
        page.wait_for_selector("#pw-form:not([hidden])", timeout=30_000)
        assert not page.is_visible("#login-form"), "the sign-in form stays on screen above the password form"
        page.fill("#pw-current", "given-pw-123")  # an easy new password is refused, in words
        page.fill("#pw-new", "12345678")
        page.click("#pw-form button[type=submit]")
        page.wait_for_selector("#pw-msg:has-text('太容易被猜到')", timeout=30_000)
        page.fill("#pw-current", "")
        page.fill("#pw-new", "")
        page.click("#pw-form button[type=submit]")  # nothing typed: each message names its field
        page.wait_for_selector("#pw-form :text('请填写：当前密码')", timeout=30_000)
        page.fill("#pw-current", "wrong-one-1")
        page.fill("#pw-new", "my-own-pw-456")
        page.click("#pw-form button[type=submit]")
        page.wait_for_selector("#pw-msg:not(:empty)", timeout=30_000)
        assert "当前密码不正确" in page.text_content("#pw-msg")
        page.fill("#pw-current", "given-pw-123")
        page.fill("#pw-new", "my-own-pw-456")
        page.click("#pw-form button[type=submit]")
        page.wait_for_selector("#view-wall:not([hidden]) .tile", timeout=30_000)
    finally:
        context.close()
    bench.login_client(county.url, "newbie", "my-own-pw-456").close()
