"""High-level async API the kiosk uses: identify, enrol, manage the library.

Usage::

    async with FingerprintDriver("/dev/ttyUSB0") as reader:
        match = await reader.identify()          # waits for a finger
        print(match.slot, match.score)

Every call raises a `FingerprintError` subclass on failure; image problems
are `PoorImageError` (with `.reason`) and an unknown finger is
`NotRecognisedError`, so the kiosk can prompt and retry.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from . import codec
from .connection import ConnectionState, FingerprintConnection, StateListener
from .errors import (
    AlreadyEnrolled,
    FingerNotPlaced,
    FingersDiffer,
    ModuleError,
    NotRecognisedError,
    ProtocolError,
    ScanAborted,
    UnsupportedCommand,
    module_error,
)
from .reconnect import Backoff


@dataclass(frozen=True)
class Match:
    slot: int
    score: int


class EnrollStep(enum.Enum):
    PLACE = "place"  # put the finger on the glass
    LIFT = "lift"  # take it off
    VERIFY = "verify"  # place it once more to check the stored template


@dataclass(frozen=True)
class EnrollPrompt:
    step: EnrollStep
    press: int  # 1-based; the verification press is presses + 1
    presses: int

    @property
    def text(self) -> str:
        if self.step is EnrollStep.LIFT:
            return "请抬起手指 / Lift your finger"
        if self.step is EnrollStep.VERIFY:
            return "请再按一次同一个手指，确认录入 / Press the same finger once more to confirm"
        return f"请按手指（第{self.press}次，共{self.presses}次） / Place your finger (press {self.press} of {self.presses})"


ProgressCallback = Callable[[EnrollPrompt], None]


class FingerprintDriver:
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 57600,
        address: int = codec.DEFAULT_ADDRESS,
        password: int = codec.DEFAULT_PASSWORD,
        timeout: float = 2.0,
        poll_interval: float = 0.1,
        backoff: Backoff | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self.connection = FingerprintConnection(
            port, baudrate=baudrate, address=address, password=password, timeout=timeout, backoff=backoff
        )

    # --- lifecycle ---------------------------------------------------------------

    async def start(self, *, wait: float | None = 10.0) -> None:
        """Open the link (reconnecting forever in the background); wait until ready unless `wait` is 0."""
        self.connection.start()
        if wait != 0:
            await self.connection.wait_ready(wait)

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> FingerprintDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def state(self) -> ConnectionState:
        return self.connection.state

    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        return self.connection.add_listener(listener)

    async def wait_ready(self, timeout: float | None = None) -> None:
        await self.connection.wait_ready(timeout)

    @property
    def capacity(self) -> int:
        params = self.connection.sys_params
        return params.capacity if params else 0

    async def _run(self, request: codec.Request, **kwargs: object) -> codec.Ack:
        ack, _ = await self.connection.execute(request, **kwargs)  # type: ignore[arg-type]
        return ack

    # --- library -----------------------------------------------------------------------

    async def read_sys_params(self) -> codec.SysParams:
        params = codec.SysParams.parse(await self._run(codec.read_sys_para()))
        self.connection.sys_params = params
        return params

    async def template_count(self) -> int:
        return codec.parse_u16(await self._run(codec.template_num()))

    async def used_slots(self) -> list[int]:
        capacity = self.capacity or (await self.read_sys_params()).capacity
        slots: list[int] = []
        for page in range(min(4, math.ceil(capacity / 256))):
            slots += codec.parse_index_table(await self._run(codec.read_index_table(page)), page)
        return [s for s in slots if s < capacity]

    async def delete(self, slot: int, count: int = 1) -> None:
        await self._run(codec.delete_char(slot, count))

    async def empty_library(self) -> None:
        await self._run(codec.empty())

    async def upload_template(self, slot: int) -> bytes:
        """The 512-byte template stored in `slot` (for an encrypted backup elsewhere)."""
        await self._run(codec.load_char(1, slot))
        _, data = await self.connection.execute(codec.up_char(1), receive_data=True)
        if len(data) != codec.TEMPLATE_SIZE:
            raise ProtocolError(
                f"Template upload from slot {slot} gave {len(data)} bytes, expected {codec.TEMPLATE_SIZE}; try again"
            )
        return data

    async def download_template(self, slot: int, data: bytes) -> None:
        """Write a 512-byte template into `slot`, checking it arrived intact."""
        if len(data) != codec.TEMPLATE_SIZE:
            raise ValueError(f"a template is {codec.TEMPLATE_SIZE} bytes, got {len(data)}")
        await self.connection.execute(codec.down_char(1), send_data=data)
        _, echo = await self.connection.execute(codec.up_char(1), receive_data=True)
        if echo != data:
            raise ProtocolError(
                f"The template for slot {slot} was corrupted on the way to the reader; try the restore again"
            )
        await self._run(codec.store(1, slot))

    # --- module settings ------------------------------------------------------------------

    async def set_led(
        self, control: codec.LedControl | int, colour: codec.LedColour | int, *, speed: int = 0x80, times: int = 0
    ) -> None:
        """R503 ring LED; other models raise UnsupportedCommand."""
        try:
            await self._run(codec.aura_led_config(control, speed, colour, times))
        except UnsupportedCommand:
            raise
        except ModuleError as exc:
            if exc.code == codec.ConfirmationCode.PACKET_ERROR:  # older models answer 01 to unknown commands
                raise UnsupportedCommand(exc.code, "This reader model has no ring LED (R503 only)") from exc
            raise

    async def set_security_level(self, level: int) -> None:
        await self._run(codec.set_sys_para(codec.SysParamRegister.SECURITY_LEVEL, level))
        await self.read_sys_params()

    async def set_packet_size(self, size: int) -> None:
        await self._run(codec.set_sys_para(codec.SysParamRegister.PACKET_SIZE, codec.PACKET_SIZES.index(size)))
        await self.read_sys_params()

    async def set_password(self, password: int) -> None:
        await self._run(codec.set_pwd(password))
        self.connection.password = password

    # --- capture ------------------------------------------------------------------------

    async def wait_for_finger(
        self, timeout: float | None = None, *, abort: Callable[[], bool] | None = None
    ) -> None:
        """Poll GenImg until a finger is on the glass and an image is taken.

        `abort` is checked before every poll: when it says so, ScanAborted
        is raised (a pause must not depend on a cancellation arriving)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if abort is not None and abort():
                raise ScanAborted("The wait for a finger was given up: the reader is being paused")
            ack = await self._run(codec.gen_img(), check=False)
            if ack.ok:
                return
            if ack.code != codec.ConfirmationCode.NO_FINGER:
                raise module_error(ack.code, command="GEN_IMG")
            if deadline is not None and loop.time() >= deadline:
                raise FingerNotPlaced(
                    f"No finger was placed within {timeout:g} s; ask the member to place a finger flat on the reader"
                )
            await asyncio.sleep(self.poll_interval)

    async def wait_for_lift(self, timeout: float | None = None) -> None:
        """Poll GenImg until the glass is empty (so the next press is a new one)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            ack = await self._run(codec.gen_img(), check=False)
            if ack.code == codec.ConfirmationCode.NO_FINGER:
                return
            if deadline is not None and loop.time() >= deadline:
                raise FingerNotPlaced(
                    f"The finger stayed on the reader for {timeout:g} s; ask the member to lift it"
                )
            await asyncio.sleep(self.poll_interval)

    async def capture(self, buffer_id: int, timeout: float | None = None) -> None:
        """Wait for a finger and turn its image into features in `buffer_id`."""
        await self.wait_for_finger(timeout)
        await self.extract(buffer_id)

    async def identify(self, *, timeout: float | None = None) -> Match:
        """Wait for a finger and search the whole library.

        Raises NotRecognisedError, PoorImageError (see `.reason`) or
        FingerNotPlaced after `timeout` seconds without a finger.
        """
        await self.capture(1, timeout)
        return await self.search_library(1)

    async def extract(self, buffer_id: int = 1) -> None:
        """Turn the image on the module into features in `buffer_id` (after wait_for_finger)."""
        await self._run(codec.img2tz(buffer_id))

    async def search_library(self, buffer_id: int = 1) -> Match:
        """Search the whole library for the features in `buffer_id`; NotRecognisedError if absent."""
        capacity = self.capacity or (await self.read_sys_params()).capacity
        ack = await self._run(codec.search(buffer_id, 0, capacity))
        result = codec.SearchResult.parse(ack)
        return Match(result.page, result.score)

    # --- enrolment ---------------------------------------------------------------------------

    async def enroll(
        self,
        slot: int,
        *,
        presses: int = 2,
        progress: ProgressCallback | None = None,
        finger_timeout: float | None = 30.0,
        allow_duplicate: bool = False,
    ) -> Match:
        """Enrol one finger into `slot` and verify it with one more press.

        Each press after the first is checked against the first (Match), so
        a member who switches fingers hears it at once. Unless
        `allow_duplicate`, a finger already in the library raises
        AlreadyEnrolled before anything is stored. Returns the slot and the
        verification score.
        """
        if presses not in (2, 3):
            raise ValueError(f"presses must be 2 or 3, got {presses}")
        capacity = self.capacity or (await self.read_sys_params()).capacity
        if not 0 <= slot < capacity:
            raise ValueError(f"slot must be 0..{capacity - 1} on this reader, got {slot}")

        def say(step: EnrollStep, press: int) -> None:
            if progress is not None:
                progress(EnrollPrompt(step, press, presses))

        for press in range(1, presses + 1):
            say(EnrollStep.PLACE, press)
            await self.capture(1 if press == 1 else 2, finger_timeout)
            if press == 1 and not allow_duplicate:
                await self._refuse_duplicate(capacity)
            if press > 1:
                await self._run(codec.match())  # FingersDiffer if another finger
            say(EnrollStep.LIFT, press)
            await self.wait_for_lift(finger_timeout)
        await self._run(codec.reg_model())
        await self._run(codec.store(1, slot))

        say(EnrollStep.VERIFY, presses + 1)
        await self.capture(1, finger_timeout)
        await self._run(codec.load_char(2, slot))
        try:
            score = codec.parse_u16(await self._run(codec.match()), "Match")
        except FingersDiffer as exc:
            await self._run(codec.delete_char(slot))  # never keep a template its owner cannot use
            raise FingersDiffer(
                exc.code,
                "The confirming press did not match the enrolled finger; the slot was cleared, enrol again",
            ) from exc
        return Match(slot, score)

    async def _refuse_duplicate(self, capacity: int) -> None:
        try:
            ack = await self._run(codec.search(1, 0, capacity))
        except NotRecognisedError:
            return
        found = codec.SearchResult.parse(ack)
        raise AlreadyEnrolled(found.page, found.score)

