"""SMS through a real HTTP gateway on 127.0.0.1: retried after an error or
a timeout, delivered once; in-app notices; the outbox's states."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.db import utcnow
from hub.members.models import Member
from hub.supervision.config import SmsGatewaySettings
from hub.supervision.notifications import service
from hub.supervision.notifications.dispatcher import Dispatcher
from hub.supervision.notifications.models import Notification
from tests.hub.conftest import County
from tests.hub.supervision.conftest import add_meeting, local, sessions


class Gateway:
    """A gateway that delivers each idempotency key at most once, and fails
    (HTTP 503) or stalls (longer than the client's timeout, but delivers)
    on the calls it is told to."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.delivered: dict[str, int] = {}
        self.fail_calls: set[int] = set()
        self.stall_calls: set[int] = set()
        self.release = threading.Event()  # a stalled call answers once the test sets this
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = len(gw.requests) + 1
                gw.requests.append({"headers": dict(self.headers), "body": body})
                if n in gw.fail_calls:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                key = self.headers["Idempotency-Key"]
                if key not in gw.delivered:
                    gw.delivered[key] = 1  # the SMS goes out now
                if n in gw.stall_calls:
                    gw.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def do_PUT(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(400)
                self.end_headers()
                self.wfile.write(b"missing field: sign")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.close()


def sms_settings(gw: Gateway, timeout: float = 0.3, **extra: object) -> SmsGatewaySettings:
    return SmsGatewaySettings(enabled=True, url=gw.url, auth_value="Bearer county-token", timeout_seconds=timeout,
                              backoff_initial_seconds=0.05, backoff_max_seconds=0.2, max_attempts=4, **extra)


def queue_sms(client: TestClient, county: County, phone: str = "13800000001") -> int:
    with sessions(client)() as s:
        m = s.get(Member, county.members["张三"])
        assert m is not None
        m.phone = phone
        n = service.enqueue(s, channel="sms", kind="reminder", text="请于本月底前召开支部党员大会", member=m, dedupe="t:1")
        assert n is not None
        s.commit()
        return n.id


def row(client: TestClient, nid: int) -> Notification:
    with sessions(client)() as s:
        n = s.get(Notification, nid)
        assert n is not None
        return n


async def drain(d: Dispatcher, client: TestClient, nid: int, rounds: int = 20) -> None:
    import asyncio

    for _ in range(rounds):
        await d.run_once()
        if row(client, nid).status in ("sent", "failed"):
            return
        await asyncio.sleep(0.06)


async def test_sms_retried_after_a_gateway_error_and_delivered_once(client: TestClient, county: County, gateway: Gateway) -> None:
    nid = queue_sms(client, county)
    gateway.fail_calls = {1}
    # The dispatcher's clock stands still until the test moves it: "not due yet"
    # must not depend on how quickly a busy machine gets to the second pass.
    now = [utcnow()]
    d = Dispatcher(sessions(client), sms_settings(gateway), clock=lambda: now[0])
    assert await d.run_once() == 1
    first = row(client, nid)
    assert (first.status, first.attempts) == ("queued", 1)
    assert "HTTP 503" in (first.last_error or "") and first.next_attempt_at is not None
    assert await d.run_once() == 0  # backing off: not due yet
    now[0] += timedelta(seconds=0.04)
    assert await d.run_once() == 0  # still inside the first backoff (0.05 s)
    now[0] += timedelta(seconds=0.02)
    await drain(d, client, nid)
    done = row(client, nid)
    assert (done.status, done.attempts, done.last_error) == ("sent", 2, None)
    assert len(gateway.requests) == 2
    keys = {r["headers"]["Idempotency-Key"] for r in gateway.requests}
    assert keys == {done.key} and gateway.delivered == {done.key: 1}
    req = gateway.requests[1]
    assert req["headers"]["Authorization"] == "Bearer county-token"
    assert req["body"] == {"to": "13800000001", "content": "请于本月底前召开支部党员大会", "requestId": done.key}
    for _ in range(3):
        await d.run_once()
    assert len(gateway.requests) == 2  # never sent again


async def test_timeout_is_retried_with_the_same_key(client: TestClient, county: County, gateway: Gateway) -> None:
    nid = queue_sms(client, county)
    gateway.stall_calls = {1}  # delivered, but the answer comes only after the client gave up
    # a timeout a busy machine's ordinary answers stay well within; the stalled one outlasts it
    d = Dispatcher(sessions(client), sms_settings(gateway, timeout=3.0))
    await d.run_once()
    gateway.release.set()
    assert "did not answer within 3 s" in (row(client, nid).last_error or "")
    await drain(d, client, nid)
    done = row(client, nid)
    assert done.status == "sent" and done.attempts == 2
    assert [r["headers"]["Idempotency-Key"] for r in gateway.requests] == [done.key, done.key]
    assert gateway.delivered == {done.key: 1}  # the gateway sent one SMS


async def test_crash_mid_attempt_and_refusals(client: TestClient, county: County, gateway: Gateway) -> None:
    nid = queue_sms(client, county)
    d = Dispatcher(sessions(client), sms_settings(gateway, body_template={"mobile": "{phone}", "msg": ["{text}"], "n": 1}))
    # A crash after `sending` was committed: recovery requeues with the same key.
    with sessions(client)() as s:
        assert service.claim(s, notification_id=nid, now=utcnow()) is not None
        assert service.claim(s, notification_id=nid, now=utcnow()) is None  # nobody else may take it
    assert await d.run_once() == 0
    assert await d.recover() == 1
    await drain(d, client, nid)
    assert row(client, nid).status == "sent" and row(client, nid).attempts == 2
    assert gateway.requests[0]["body"] == {"mobile": "13800000001", "msg": ["请于本月底前召开支部党员大会"], "n": 1}
    # A gateway that refuses the request outright: failed at once, not retried.
    with sessions(client)() as s:
        m = s.get(Member, county.members["张三"])
        bad = service.enqueue(s, channel="sms", kind="reminder", text="x", member=m)
        s.commit()
        bad_id = bad.id  # type: ignore[union-attr]
    refusing = SmsGatewaySettings(enabled=True, url=gateway.url, method="PUT", timeout_seconds=0.5)
    await Dispatcher(sessions(client), refusing).run_once()
    failed = row(client, bad_id)
    assert failed.status == "failed" and failed.attempts == 1 and "HTTP 400: missing field: sign" in (failed.last_error or "")
    r = client.post(f"/api/v1/supervision/notifications/{bad_id}/retry", headers=county.admin)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert client.post(f"/api/v1/supervision/notifications/{bad_id}/retry", headers=county.admin).status_code == 409
    assert client.post(f"/api/v1/supervision/notifications/{bad_id}/retry", headers=county.operators["西山乡"]).status_code == 404
    # Unreachable gateway: retried until max_attempts, then failed.
    with sessions(client)() as s:
        m = s.get(Member, county.members["张三"])
        gone = service.enqueue(s, channel="sms", kind="reminder", text="y", member=m)
        s.commit()
        gone_id = gone.id  # type: ignore[union-attr]
    dead = SmsGatewaySettings(enabled=True, url="http://127.0.0.1:9/", timeout_seconds=0.3, backoff_initial_seconds=0.01,
                              backoff_max_seconds=0.01, max_attempts=3)
    await drain(Dispatcher(sessions(client), dead), client, gone_id)
    gone_row = row(client, gone_id)
    assert (gone_row.status, gone_row.attempts) == ("failed", 3) and "unreachable" in (gone_row.last_error or "")


def test_meeting_notice_in_the_app_and_by_sms_once(client: TestClient, county: County) -> None:
    b = county.branches["东城一村"]
    with sessions(client)() as s:
        m = add_meeting(s, branch_id=b, meeting_type="general_meeting", start=local(2025, 3, 20))
        s.get(Member, county.members["李四"]).phone = "13900000002"  # type: ignore[union-attr]
        s.commit()
    dc = county.operators["东城镇"]
    r = client.post("/api/v1/supervision/notifications/meeting-notice", headers=dc, json={"meeting_id": m.id, "channels": ["app", "sms"]})
    assert r.status_code == 201, r.text
    # Four members in the app; only 李四 has a phone for SMS.
    assert (r.json()["created"], r.json()["skipped"]) == (5, 3)
    again = client.post("/api/v1/supervision/notifications/meeting-notice", headers=dc, json={"meeting_id": m.id, "channels": ["app", "sms"]})
    assert again.json()["created"] == 0
    rows = client.get("/api/v1/supervision/notifications", headers=dc, params={"kind": "meeting_notice"}).json()
    assert sorted((n["channel"], n["status"]) for n in rows).count(("app", "sent")) == 4
    assert [n["status"] for n in rows if n["channel"] == "sms"] == ["queued"]
    app_one = next(n for n in rows if n["channel"] == "app")
    assert client.post(f"/api/v1/supervision/notifications/{app_one['id']}/read", headers=dc).json()["status"] == "read"
    assert client.post("/api/v1/supervision/notifications/meeting-notice", headers=county.operators["西山乡"],
                       json={"meeting_id": m.id}).status_code == 404
    assert client.get("/api/v1/supervision/notifications", headers=county.operators["西山乡"]).json() == []
    r = client.post("/api/v1/supervision/notifications/reminder", headers=dc, json={"branch_id": b, "text": "请提交下月计划", "channels": ["sms"]})
    assert r.status_code == 201 and r.json()["skipped"] == 1  # 张三, the committee member, has no phone
    summary = client.get("/api/v1/supervision/notifications/summary", headers=dc).json()
    assert summary["app"] == {"sent": 3, "read": 1} and summary["sms"] == {"queued": 1}
    with sessions(client)() as s:
        assert len(s.scalars(select(Notification)).all()) == 5


async def test_background_tasks_start_and_stop(client: TestClient, county: County, gateway: Gateway) -> None:
    import asyncio

    from hub import supervision
    from hub.supervision.config import SupervisionSettings

    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.settings.supervision = SupervisionSettings(sms=sms_settings(gateway))
    nid = queue_sms(client, county)
    ctx.bus.bind_loop(asyncio.get_running_loop())
    tasks = supervision.start(ctx)
    try:
        for _ in range(100):
            if row(client, nid).status == "sent":
                break
            await asyncio.sleep(0.05)
    finally:
        await supervision.stop(tasks)
    assert row(client, nid).status == "sent" and all(t.done() for t in tasks)
