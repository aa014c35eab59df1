"""Adapts the fingerprint package (`devices.fingerprint`: driver and
check-in reader) to the agent's `FingerprintReader` interface.

Enrolment pauses check-in scanning (the module does one thing at a time),
maps the driver's press prompts to the kiosk's, and downloads the new
template for the hub's backup when the module allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from devices.agent.reader import ENROL_AGAIN, ENROL_LIFT, ENROL_PRESS
from devices.config import EdgeSettings
from devices.fingerprint.driver import EnrollPrompt, EnrollStep, FingerprintDriver
from devices.fingerprint.errors import FingerprintError
from devices.fingerprint.reader import CheckInReader

log = logging.getLogger(__name__)


def _step(prompt: EnrollPrompt) -> str:
    if prompt.step is EnrollStep.LIFT:
        return ENROL_LIFT
    if prompt.step is EnrollStep.VERIFY or prompt.press > 1:
        return ENROL_AGAIN
    return ENROL_PRESS


class DriverReader:
    def __init__(self, driver: FingerprintDriver, checkin: CheckInReader) -> None:
        self.driver = driver
        self.checkin = checkin

    @property
    def capacity(self) -> int:
        return self.driver.capacity

    def events(self) -> AsyncIterator[object]:
        return self.checkin.events()

    async def enroll(self, slot: int, prompt: Callable[[str], None]) -> bytes | None:
        async with self.checkin.paused():
            await self.driver.enroll(slot, progress=lambda p: prompt(_step(p)))
            try:
                return await asyncio.wait_for(self.driver.upload_template(slot), 30)
            except (FingerprintError, TimeoutError) as exc:
                log.info("template of slot %s not downloaded for backup: %s", slot, exc)
                return None

    async def delete(self, slot: int) -> None:
        async with self.checkin.paused():
            await self.driver.delete(slot)

    async def template_count(self, ready_timeout: float = 15.0) -> int:
        await self.driver.wait_ready(ready_timeout)
        async with self.checkin.paused():
            return await self.driver.template_count()

    async def store_template(self, slot: int, template: bytes) -> None:
        async with self.checkin.paused():
            await self.driver.download_template(slot, template)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.checkin.stop(), 5)
        await asyncio.wait_for(self.driver.close(), 5)


async def open_reader(settings: EdgeSettings) -> DriverReader:
    """Open the serial link without waiting for the module: a reader that is
    unplugged at start-up shows as a fault on the kiosk and recovers later."""
    assert settings.reader_port is not None
    driver = FingerprintDriver(settings.reader_port, baudrate=settings.reader_baud)
    await driver.start(wait=0)
    checkin = CheckInReader(driver)
    checkin.start()
    return DriverReader(driver, checkin)
