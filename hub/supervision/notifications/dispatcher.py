"""Delivers queued SMS notifications through the gateway, with backoff.

The database work runs in worker threads; only the HTTP request awaits on
the loop. Each row is committed as `sending` before its request and as
`sent`/`queued`/`failed` after it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from hub.db import utcnow
from hub.supervision.config import SmsGatewaySettings
from hub.supervision.notifications import service
from hub.supervision.notifications.gateway import GatewayError, SmsGateway

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, session_factory: sessionmaker[Session], settings: SmsGatewaySettings,
                 gateway: SmsGateway | None = None, *, poll_seconds: float = 2.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.session_factory = session_factory
        self.clock = clock  # what "due" and backoff are measured against
        self.settings = settings
        self.gateway = gateway or SmsGateway(settings)
        self.poll_seconds = poll_seconds

    def _db(self, fn, /, **kwargs):  # type: ignore[no-untyped-def]
        with self.session_factory() as session:
            return fn(session, **kwargs)

    async def recover(self) -> int:
        return await asyncio.to_thread(self._db, service.recover_interrupted)

    async def run_once(self) -> int:
        """Attempt every message that is due; returns how many were attempted."""
        if not self.settings.enabled:
            return 0
        ids = await asyncio.to_thread(self._db, service.due, now=self.clock())
        attempted = 0
        for nid in ids:
            row = await asyncio.to_thread(self._db, lambda s, nid=nid: _snapshot(service.claim(s, notification_id=nid, now=self.clock())))
            if row is None:
                continue  # another dispatcher took it
            attempted += 1
            key, phone, text, kind = row
            try:
                note = await self.gateway.send(key=key, phone=phone, text=text, kind=kind)
            except GatewayError as exc:
                log.warning("SMS %s attempt failed: %s", key, exc)
                await asyncio.to_thread(self._db, service.mark_failed_attempt, notification_id=nid, error=str(exc),
                                        retryable=exc.retryable, settings=self.settings, now=self.clock())
            except Exception as exc:  # a bug in a template must not lose track of the row
                log.exception("SMS %s attempt crashed", key)
                await asyncio.to_thread(self._db, service.mark_failed_attempt, notification_id=nid,
                                        error=f"{exc.__class__.__name__}: {exc}", retryable=True,
                                        settings=self.settings, now=self.clock())
            else:
                await asyncio.to_thread(self._db, service.mark_sent, notification_id=nid, note=note, now=self.clock())
        return attempted

    async def run_forever(self) -> None:
        await self.recover()
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("notification dispatcher pass failed")
            await asyncio.sleep(self.poll_seconds)


def _snapshot(n: object) -> tuple[str, str, str, str] | None:
    if n is None:
        return None
    return (n.key, n.phone or "", n.text, n.kind)  # type: ignore[attr-defined]
