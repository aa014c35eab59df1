"""The driver against the emulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devices.fingerprint import (
    AlreadyEnrolled,
    ConnectionState,
    EnrollPrompt,
    EnrollStep,
    FingerNotPlaced,
    FingerprintDriver,
    FingersDiffer,
    Match,
    NotRecognisedError,
    PasswordError,
    PoorImageError,
    ProtocolError,
    ReaderDisconnected,
    ReaderTimeout,
    ReaderUnavailable,
    UnsupportedCommand,
)
from devices.fingerprint.connection import FingerprintConnection
from devices.fingerprint.transport import SerialTransport
from firmware_stubs.fingerprint import FingerprintEmulator


def presser(emu: FingerprintEmulator, *fingers: str) -> tuple[list[EnrollPrompt], object]:
    """A member who follows the prompts; press n uses fingers[n-1] (or the last one)."""
    prompts: list[EnrollPrompt] = []

    def progress(prompt: EnrollPrompt) -> None:
        prompts.append(prompt)
        if prompt.step is EnrollStep.LIFT:
            emu.lift_finger()
        else:
            emu.place_finger(fingers[min(prompt.press, len(fingers)) - 1])

    return prompts, progress


async def enroll(driver: FingerprintDriver, emu: FingerprintEmulator, slot: int, finger: str, presses: int = 2) -> Match:
    _, progress = presser(emu, finger)
    result = await driver.enroll(slot, presses=presses, progress=progress)  # type: ignore[arg-type]
    emu.lift_finger()
    return result


async def test_enrol_then_identify(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    prompts, progress = presser(emulator, "member-17-right-index")
    result = await driver.enroll(17, progress=progress)  # type: ignore[arg-type]
    assert result.slot == 17 and result.score >= 60
    assert [p.step for p in prompts] == [EnrollStep.PLACE, EnrollStep.LIFT, EnrollStep.PLACE, EnrollStep.LIFT, EnrollStep.VERIFY]
    assert "第1次" in prompts[0].text
    emulator.lift_finger()
    assert await driver.template_count() == 1
    assert await driver.used_slots() == [17]

    emulator.place_finger("member-17-right-index")
    match = await driver.identify(timeout=10)
    assert match.slot == 17 and match.score == result.score


async def test_three_presses(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    prompts, progress = presser(emulator, "member-3")
    await driver.enroll(3, presses=3, progress=progress)  # type: ignore[arg-type]
    assert [p.press for p in prompts if p.step is EnrollStep.PLACE] == [1, 2, 3]


async def test_other_finger_is_not_recognised(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    await enroll(driver, emulator, 1, "member-1-right-index")
    emulator.place_finger("member-2-right-index")
    with pytest.raises(NotRecognisedError) as info:
        await driver.identify(timeout=10)
    assert "try another enrolled finger or ask staff" in str(info.value)
    assert info.value.prompt_zh.startswith("没有认出")


async def test_switching_fingers_during_enrolment(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    _, progress = presser(emulator, "member-5-index", "member-5-thumb")
    with pytest.raises(FingersDiffer):
        await driver.enroll(5, progress=progress)  # type: ignore[arg-type]
    assert await driver.used_slots() == []


async def test_duplicate_finger_is_refused(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    await enroll(driver, emulator, 1, "member-1")
    _, progress = presser(emulator, "member-1")
    with pytest.raises(AlreadyEnrolled) as info:
        await driver.enroll(2, progress=progress)  # type: ignore[arg-type]
    assert info.value.slot == 1


@pytest.mark.parametrize(
    ("quality", "reason"),
    [("messy", "messy"), ("few_features", "few_features"), ("capture_failed", "capture_failed")],
)
async def test_poor_images(driver: FingerprintDriver, emulator: FingerprintEmulator, quality: str, reason: str) -> None:
    emulator.place_finger("member-9", quality)
    with pytest.raises(PoorImageError) as info:
        await driver.identify(timeout=10)
    assert info.value.reason == reason
    assert "press" in str(info.value)


async def test_no_finger_times_out(driver: FingerprintDriver) -> None:
    with pytest.raises(FingerNotPlaced) as info:
        await driver.identify(timeout=0.05)
    assert "place a finger" in str(info.value)


async def test_template_backup_and_restore(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    await enroll(driver, emulator, 4, "member-4")
    template = await driver.upload_template(4)
    assert len(template) == 512
    await driver.delete(4)
    assert await driver.used_slots() == []
    await driver.download_template(9, template)
    assert await driver.upload_template(9) == template
    emulator.place_finger("member-4")
    assert (await driver.identify(timeout=10)).slot == 9


async def test_small_packets(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    await driver.set_packet_size(32)
    assert (await driver.read_sys_params()).packet_size == 32
    await enroll(driver, emulator, 0, "member-0")
    template = await driver.upload_template(0)
    await driver.download_template(1, template)
    assert await driver.upload_template(1) == template


@pytest.mark.parametrize("emulator", ["R503"], indirect=True)
async def test_led_on_r503(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    await driver.set_led(3, 2)
    assert emulator.status()["led"]["colour"] == 2
    assert driver.capacity == 200


async def test_led_unsupported_on_r307(driver: FingerprintDriver) -> None:
    with pytest.raises(UnsupportedCommand) as info:
        await driver.set_led(3, 2)
    assert "R503 only" in str(info.value)


async def test_password(emulator: FingerprintEmulator, no_tasks: None, driver_factory: Any) -> None:
    make_driver = driver_factory
    async with make_driver(emulator) as drv:
        await drv.set_password(0x1234)
    emulator.unplug()
    emulator.replug()  # power cycle: the module forgets the verification
    wrong = make_driver(emulator, password=0x9999)
    await wrong.start(wait=0)
    with pytest.raises(ReaderUnavailable) as info:
        await wrong.wait_ready(0.5)
    assert isinstance(info.value.__cause__, PasswordError)
    await wrong.close()
    async with make_driver(emulator, password=0x1234) as right:
        assert await right.template_count() == 0


async def test_silent_module(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    emulator.inject_silence()
    with pytest.raises(ReaderTimeout) as info:
        await driver.template_count()
    assert "resynchronised, try again" in str(info.value)
    assert driver.state is ConnectionState.READY
    assert await driver.template_count() == 0


async def test_garbage_before_reply_is_skipped(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    emulator.inject_garbage(bytes.fromhex("00 ff ef 13 ef 01 00"))
    assert await driver.template_count() == 0
    assert driver.state is ConnectionState.READY


async def test_bad_checksum(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    emulator.inject_bad_checksum()
    with pytest.raises(ProtocolError) as info:
        await driver.template_count()
    assert "fingerprint frame checksum mismatch: got 0x" in str(info.value)
    assert await driver.template_count() == 0


async def test_slow_module_within_timeout(emulator: FingerprintEmulator, no_tasks: None, driver_factory: Any) -> None:
    make_driver = driver_factory
    emulator.set_delay(0.2)
    async with make_driver(emulator, timeout=10) as drv:
        assert await drv.template_count() == 0


async def test_slow_module_beyond_timeout_recovers(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    emulator.set_delay(1.0)  # the driver's timeout is 0.5 s
    with pytest.raises(ReaderTimeout):
        await driver.template_count()
    emulator.clear_faults()
    await driver.wait_ready(10)
    assert await driver.template_count() == 0
    assert await driver.used_slots() == []


async def test_unplug_and_replug_mid_operation(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    states: list[ConnectionState] = []
    driver.add_state_listener(lambda state, error: states.append(state))
    await enroll(driver, emulator, 2, "member-2")
    emulator.set_delay(5)  # the module is busy with a command when the cable is pulled
    pending = asyncio.ensure_future(driver.template_count())
    await asyncio.sleep(0.1)
    emulator.unplug()
    with pytest.raises(ReaderDisconnected) as info:
        await pending
    assert "check the USB cable" in str(info.value)
    with pytest.raises(ReaderUnavailable):
        await driver.template_count()
    emulator.clear_faults()
    emulator.replug()
    await driver.wait_ready(10)
    assert await driver.used_slots() == [2]  # the library survived the power cut
    assert ConnectionState.DISCONNECTED in states and states[-1] is ConnectionState.READY


async def test_unplugged_while_idle(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    emulator.unplug()
    for _ in range(200):
        if driver.state is not ConnectionState.READY:
            break
        await asyncio.sleep(0.01)
    emulator.replug()
    await driver.wait_ready(10)
    emulator.place_finger("nobody")
    with pytest.raises(NotRecognisedError):
        await driver.identify(timeout=10)


async def test_start_before_the_reader_is_plugged(emulator: FingerprintEmulator, no_tasks: None, driver_factory: Any) -> None:
    make_driver = driver_factory
    emulator.unplug()
    drv = make_driver(emulator)
    await drv.start(wait=0)
    with pytest.raises(ReaderUnavailable) as info:
        await drv.wait_ready(0.3)
    assert "check the USB cable" in str(info.value)
    emulator.replug()
    await drv.wait_ready(10)
    assert await drv.template_count() == 0
    await drv.close()


async def test_host_writing_one_byte_at_a_time(driver: FingerprintDriver, emulator: FingerprintEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    original = SerialTransport.write

    def trickle(self: SerialTransport, data: bytes) -> None:
        for byte in data:
            original(self, bytes([byte]))

    monkeypatch.setattr(SerialTransport, "write", trickle)
    await enroll(driver, emulator, 6, "member-6")
    template = await driver.upload_template(6)
    await driver.download_template(7, template)
    assert await driver.used_slots() == [6, 7]


async def test_cancelled_request_does_not_desynchronise(driver: FingerprintDriver, emulator: FingerprintEmulator) -> None:
    emulator.set_delay(0.3)
    task = asyncio.ensure_future(driver.read_sys_params())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    emulator.set_delay(0)
    assert await driver.template_count() == 0  # not the late 28-byte ReadSysPara reply
    assert isinstance(driver.connection, FingerprintConnection)
