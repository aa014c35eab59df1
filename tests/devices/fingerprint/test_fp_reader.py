"""Check-in reader events, driven by the emulator."""

from __future__ import annotations

import asyncio

import pytest

from devices.fingerprint import (
    CheckInReader,
    EnrollStep,
    FingerMatched,
    FingerprintDriver,
    NotRecognised,
    PoorImage,
    ReaderFault,
    ReaderReady,
    ReaderReconnected,
)
from devices.fingerprint.reader import ReaderPhase
from firmware_stubs.fingerprint import FingerprintEmulator

T = 10  # generous, only to avoid a hang


async def lift(emulator: FingerprintEmulator, reader: CheckInReader) -> None:
    """Lift the finger and wait until the reader has seen the empty glass."""
    emulator.lift_finger()
    for _ in range(T * 100):
        if reader.phase is ReaderPhase.SCANNING:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"reader stuck in {reader.phase}")


async def test_events_for_a_check_in_session(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    reader = CheckInReader(driver)
    reader.start()
    try:
        assert isinstance(await reader.next_event(T), ReaderReady)
        async with reader.paused():

            def progress(prompt: object) -> None:
                if prompt.step is EnrollStep.LIFT:  # type: ignore[attr-defined]
                    emulator.lift_finger()
                else:
                    emulator.place_finger("member-8")

            await driver.enroll(8, progress=progress)
            emulator.lift_finger()

        emulator.place_finger("member-8")
        event = await reader.next_event(T)
        assert isinstance(event, FingerMatched) and event.slot == 8
        await lift(emulator, reader)

        emulator.place_finger("stranger")
        assert isinstance(await reader.next_event(T), NotRecognised)
        await lift(emulator, reader)

        emulator.place_finger("member-8", "messy")
        event = await reader.next_event(T)
        assert isinstance(event, PoorImage) and event.reason == "messy"
        assert "擦干" in event.prompt
        await lift(emulator, reader)

        emulator.unplug()
        fault = await reader.next_event(T)
        assert isinstance(fault, ReaderFault) and "USB cable" in fault.message
        emulator.replug()
        assert isinstance(await reader.next_event(T), ReaderReconnected)
        emulator.place_finger("member-8")
        assert isinstance(await reader.next_event(T), FingerMatched)
    finally:
        await reader.stop()


async def test_one_press_gives_one_event(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    reader = CheckInReader(driver)
    reader.start()
    try:
        await reader.next_event(T)
        emulator.place_finger("stranger")
        assert isinstance(await reader.next_event(T), NotRecognised)
        with pytest.raises(TimeoutError):
            await reader.next_event(0.3)  # finger still on the glass: no repeat
    finally:
        await reader.stop()
