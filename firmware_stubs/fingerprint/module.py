"""The emulated module's firmware: command handling, no I/O.

`ModuleFirmware.receive(bytes)` returns the responses the module sends, each
a list of frames and pauses (capture/extraction time). The pty, the faults
and the threads live in `emulator.py`; this module is what a datasheet
describes: fixed-length acknowledgements (value fields zeroed on error), the
password gate, persisted system parameters, data packets sized by the
packet-size register.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from . import framing, sensor
from .profiles import ModelProfile
from .storage import Flash, FlashStore

PACKET_SIZES = (32, 64, 128, 256)
READY_BYTE = b"\x55"

# Value bytes after the confirmation code, per command (zeroed on error).
VALUE_LENGTH = {0x03: 2, 0x04: 4, 0x1B: 4, 0x0F: 16, 0x14: 4, 0x1D: 2, 0x1F: 32}
# Commands a module answers before the password is verified.
OPEN_COMMANDS = frozenset({0x13, 0x40, 0x53})

OK, PACKET_ERROR, NO_FINGER, CAPTURE_FAILED = 0x00, 0x01, 0x02, 0x03
MESSY, FEW_FEATURES, NO_MATCH, NOT_FOUND, COMBINE_FAILED = 0x06, 0x07, 0x08, 0x09, 0x0A
BAD_PAGE, TEMPLATE_INVALID, DELETE_FAILED = 0x0B, 0x0C, 0x10
WRONG_PASSWORD, NO_IMAGE, BAD_REGISTER, PASSWORD_REQUIRED = 0x13, 0x15, 0x1A, 0x21


@dataclass
class Response:
    """What the module does for one command: frames (bytes) and pauses (float seconds)."""

    items: list[bytes | float] = field(default_factory=list)


@dataclass
class Timings:
    capture: float = 0.0  # GenImg (datasheet: < 0.2 s)
    extract: float = 0.0  # Img2Tz (datasheet: < 0.5 s)
    search: float = 0.0
    reset: float = 0.0  # SoftRst until the 0x55 byte


@dataclass
class LedState:
    control: int = 4
    speed: int = 0
    colour: int = 1
    times: int = 0


class ModuleFirmware:
    def __init__(
        self,
        model: ModelProfile,
        store: FlashStore,
        finger: Callable[[], sensor.Finger | None],
        timings: Timings | None = None,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.store = store
        self.timings = timings or Timings()
        self._finger = finger
        self._rng = random.Random(seed)
        self.led = LedState()
        self.flash = Flash()
        self.power_on()

    # --- power -------------------------------------------------------------

    def power_on(self) -> bytes:
        """Reset RAM from flash; return the ready byte the module sends."""
        self.flash = self.store.load()
        self.stream = framing.HostStream()
        self.verified = False
        self.image: sensor.Image | None = None
        self.buffers: dict[int, bytes | None] = {1: None, 2: None}
        self.matched = False
        self._download: tuple[str, int] | None = None
        self._download_data = bytearray()
        return READY_BYTE

    @property
    def address(self) -> int:
        return self.flash.params.address

    @property
    def packet_size(self) -> int:
        return PACKET_SIZES[self.flash.params.packet_size_code]

    # --- byte stream --------------------------------------------------------

    def receive(self, data: bytes) -> list[Response]:
        responses = []
        for host_frame in self.stream.push(data):
            response = self._on_frame(host_frame)
            if response is not None:
                responses.append(response)
        return responses

    def _on_frame(self, f: framing.HostFrame) -> Response | None:
        if f.address != self.address:
            return None  # not for us: a module on a shared bus stays quiet
        if f.pid in (framing.PID_DATA, framing.PID_END):
            self._on_data(f)
            return None
        if f.pid != framing.PID_COMMAND:
            return None
        self._download = None
        if not f.checksum_ok or not f.body:
            return self._reply(0x00, PACKET_ERROR)
        command, params = f.body[0], f.body[1:]
        if command not in self.model.commands:
            return self._reply(command, self.model.unknown_command_code)
        if self.flash.params.password != 0 and not self.verified and command not in OPEN_COMMANDS:
            return self._reply(command, PASSWORD_REQUIRED)
        handler = getattr(self, f"_cmd_{command:02x}")
        return handler(params)

    def _on_data(self, f: framing.HostFrame) -> None:
        if self._download is None:
            return
        if not f.checksum_ok:
            self._download = None  # the transfer is lost; the host will see stale data
            return
        self._download_data += f.body
        if f.pid != framing.PID_END:
            return
        kind, buffer_id = self._download
        data = bytes(self._download_data)
        self._download = None
        if kind == "char":
            self.buffers[buffer_id] = data[: sensor.TEMPLATE_SIZE].ljust(sensor.TEMPLATE_SIZE, b"\x00")
        else:
            self.image = sensor.downloaded_image(data, self.model.image_bytes)

    def _start_download(self, kind: str, buffer_id: int = 0) -> None:
        self._download = (kind, buffer_id)
        self._download_data = bytearray()

    # --- replies ------------------------------------------------------------

    def _reply(self, command: int, code: int, value: bytes = b"", *extra: bytes | float) -> Response:
        size = VALUE_LENGTH.get(command, 0)
        if code != OK or len(value) != size:
            value = bytes(size)
        return Response([framing.ack(self.address, code, value), *extra])

    def _upload(self, data: bytes) -> list[bytes]:
        size = self.packet_size
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        return [
            framing.frame(self.address, framing.PID_END if i == len(chunks) - 1 else framing.PID_DATA, c)
            for i, c in enumerate(chunks)
        ]

    def _persist(self) -> None:
        self.store.save(self.flash)

    @staticmethod
    def _args(params: bytes, size: int) -> bytes | None:
        return params if len(params) == size else None

    def _buffer_id(self, params: bytes) -> int | None:
        return params[0] if params and params[0] in (1, 2) else None

    def _pause(self, seconds: float) -> list[float]:
        return [seconds] if seconds > 0 else []

    # --- commands (named by code) ---------------------------------------------

    def _cmd_01(self, params: bytes) -> Response:  # GenImg
        finger = self._finger()
        if finger is None:
            # The datasheet: with no finger on the glass the answer is
            # immediate; the capture time is spent only on a finger.
            self.image = None
            return Response(self._reply(0x01, NO_FINGER).items)
        pause = self._pause(self.timings.capture)
        if finger.quality == "capture_failed":
            self.image = None
            return Response([*pause, *self._reply(0x01, CAPTURE_FAILED).items])
        self.image = sensor.capture(finger, self.model.image_bytes)
        return Response([*pause, *self._reply(0x01, OK).items])

    def _cmd_02(self, params: bytes) -> Response:  # Img2Tz
        buffer_id = self._buffer_id(params)
        if buffer_id is None or len(params) != 1:
            return self._reply(0x02, PACKET_ERROR)
        pause = self._pause(self.timings.extract)
        if self.image is None:
            code = NO_IMAGE
        elif self.image.quality == "messy":
            code = MESSY
        elif self.image.quality == "few_features":
            code = FEW_FEATURES
        else:
            self.buffers[buffer_id] = sensor.extract(self.image)
            code = OK
        return Response([*pause, *self._reply(0x02, code).items])

    def _cmd_03(self, params: bytes) -> Response:  # Match
        score = sensor.score(self.buffers[1], self.buffers[2])
        self.matched = score >= sensor.threshold(self.flash.params.security_level)
        return self._reply(0x03, OK if self.matched else NO_MATCH, score.to_bytes(2, "big"))

    def _cmd_04(self, params: bytes, command: int = 0x04) -> Response:  # Search
        args = self._args(params, 5)
        buffer_id = self._buffer_id(params)
        if args is None or buffer_id is None:
            return self._reply(command, PACKET_ERROR)
        start, count = int.from_bytes(args[1:3], "big"), int.from_bytes(args[3:5], "big")
        probe = self.buffers[buffer_id]
        best_page, best_score = 0, 0
        for page in range(start, min(start + count, self.model.capacity)):
            s = sensor.score(probe, self.flash.library.get(page))
            if s > best_score:
                best_page, best_score = page, s
        self.matched = best_score >= sensor.threshold(self.flash.params.security_level)
        value = best_page.to_bytes(2, "big") + best_score.to_bytes(2, "big")
        pause = self._pause(self.timings.search)
        return Response([*pause, *self._reply(command, OK if self.matched else NOT_FOUND, value).items])

    def _cmd_1b(self, params: bytes) -> Response:  # HiSpeedSearch
        return self._cmd_04(params, 0x1B)

    def _cmd_05(self, params: bytes) -> Response:  # RegModel
        a, b = self.buffers[1], self.buffers[2]
        if sensor.identity(a) is None or sensor.identity(a) != sensor.identity(b):
            return self._reply(0x05, COMBINE_FAILED)
        self.buffers[2] = a  # the datasheet: the template ends up in both buffers
        return self._reply(0x05, OK)

    def _page(self, params: bytes) -> tuple[int, int] | None:
        args = self._args(params, 3)
        buffer_id = self._buffer_id(params)
        if args is None or buffer_id is None:
            return None
        return buffer_id, int.from_bytes(args[1:3], "big")

    def _cmd_06(self, params: bytes) -> Response:  # Store
        target = self._page(params)
        if target is None:
            return self._reply(0x06, PACKET_ERROR)
        buffer_id, page = target
        if page >= self.model.capacity:
            return self._reply(0x06, BAD_PAGE)
        # RAM after power-up is zeros; storing an untouched buffer stores zeros.
        self.flash.library[page] = self.buffers[buffer_id] or bytes(sensor.TEMPLATE_SIZE)
        self._persist()
        return self._reply(0x06, OK)

    def _cmd_07(self, params: bytes) -> Response:  # LoadChar
        target = self._page(params)
        if target is None:
            return self._reply(0x07, PACKET_ERROR)
        buffer_id, page = target
        if page >= self.model.capacity:
            return self._reply(0x07, BAD_PAGE)
        template = self.flash.library.get(page)
        if template is None:
            return self._reply(0x07, TEMPLATE_INVALID)
        self.buffers[buffer_id] = template
        return self._reply(0x07, OK)

    def _cmd_08(self, params: bytes) -> Response:  # UpChar
        buffer_id = self._buffer_id(params)
        if buffer_id is None or len(params) != 1:
            return self._reply(0x08, PACKET_ERROR)
        data = self.buffers[buffer_id] or bytes(sensor.TEMPLATE_SIZE)
        return self._reply(0x08, OK, b"", *self._upload(data))

    def _cmd_09(self, params: bytes) -> Response:  # DownChar
        buffer_id = self._buffer_id(params)
        if buffer_id is None or len(params) != 1:
            return self._reply(0x09, PACKET_ERROR)
        self._start_download("char", buffer_id)
        return self._reply(0x09, OK)

    def _cmd_0a(self, params: bytes) -> Response:  # UpImage
        pixels = self.image.pixels if self.image else bytes(self.model.image_bytes)
        return self._reply(0x0A, OK, b"", *self._upload(pixels))

    def _cmd_0b(self, params: bytes) -> Response:  # DownImage
        self._start_download("image")
        return self._reply(0x0B, OK)

    def _cmd_0c(self, params: bytes) -> Response:  # DeleteChar
        args = self._args(params, 4)
        if args is None:
            return self._reply(0x0C, PACKET_ERROR)
        page, count = int.from_bytes(args[0:2], "big"), int.from_bytes(args[2:4], "big")
        if count == 0 or page + count > self.model.capacity:
            return self._reply(0x0C, DELETE_FAILED)
        for p in range(page, page + count):
            self.flash.library.pop(p, None)
        self._persist()
        return self._reply(0x0C, OK)

    def _cmd_0d(self, params: bytes) -> Response:  # Empty
        self.flash.library.clear()
        self._persist()
        return self._reply(0x0D, OK)

    def _cmd_0e(self, params: bytes) -> Response:  # SetSysPara
        args = self._args(params, 2)
        if args is None:
            return self._reply(0x0E, PACKET_ERROR)
        register, value = args
        limits = {4: (1, 12, "baud_multiplier"), 5: (1, 5, "security_level"), 6: (0, 3, "packet_size_code")}
        # The datasheet names 1A for a bad register; we answer it for a value out of range too.
        if register not in limits or not limits[register][0] <= value <= limits[register][1]:
            return self._reply(0x0E, BAD_REGISTER)
        setattr(self.flash.params, limits[register][2], value)
        self._persist()
        return self._reply(0x0E, OK)

    def _cmd_0f(self, params: bytes) -> Response:  # ReadSysPara
        p = self.flash.params
        status = (self.matched << 1) | (self.verified << 2) | ((self.image is not None) << 3)
        value = (
            status.to_bytes(2, "big")
            + (0x0009).to_bytes(2, "big")
            + self.model.capacity.to_bytes(2, "big")
            + p.security_level.to_bytes(2, "big")
            + p.address.to_bytes(4, "big")
            + p.packet_size_code.to_bytes(2, "big")
            + p.baud_multiplier.to_bytes(2, "big")
        )
        return self._reply(0x0F, OK, value)

    def _cmd_12(self, params: bytes) -> Response:  # SetPwd
        args = self._args(params, 4)
        if args is None:
            return self._reply(0x12, PACKET_ERROR)
        self.flash.params.password = int.from_bytes(args, "big")
        self._persist()
        return self._reply(0x12, OK)

    def _cmd_13(self, params: bytes) -> Response:  # VfyPwd
        args = self._args(params, 4)
        if args is None:
            return self._reply(0x13, PACKET_ERROR)
        self.verified = int.from_bytes(args, "big") == self.flash.params.password
        return self._reply(0x13, OK if self.verified else WRONG_PASSWORD)

    def _cmd_14(self, params: bytes) -> Response:  # GetRandomCode
        return self._reply(0x14, OK, self._rng.getrandbits(32).to_bytes(4, "big"))

    def _cmd_15(self, params: bytes) -> Response:  # SetAddr
        args = self._args(params, 4)
        if args is None:
            return self._reply(0x15, PACKET_ERROR)
        self.flash.params.address = int.from_bytes(args, "big")
        self._persist()
        return self._reply(0x15, OK)  # sent from the new address

    def _cmd_1d(self, params: bytes) -> Response:  # TemplateNum
        return self._reply(0x1D, OK, len(self.flash.library).to_bytes(2, "big"))

    def _cmd_1f(self, params: bytes) -> Response:  # ReadIndexTable
        if len(params) != 1:
            return self._reply(0x1F, PACKET_ERROR)
        if params[0] > 3:
            return self._reply(0x1F, BAD_PAGE)
        table = bytearray(32)
        base = params[0] * 256
        for page in self.flash.library:
            if base <= page < base + 256:
                table[(page - base) // 8] |= 1 << ((page - base) % 8)
        return self._reply(0x1F, OK, bytes(table))

    def _cmd_35(self, params: bytes) -> Response:  # AuraLedConfig (R503)
        args = self._args(params, 4)
        if args is None or not 1 <= args[0] <= 6 or not 1 <= args[2] <= 7:
            return self._reply(0x35, PACKET_ERROR)
        self.led = LedState(args[0], args[1], args[2], args[3])
        return self._reply(0x35, OK)

    def _cmd_36(self, params: bytes) -> Response:  # CheckSensor (R503)
        return self._reply(0x36, OK)

    def _cmd_40(self, params: bytes) -> Response:  # HandShake (R503)
        return self._reply(0x40, OK)

    def _cmd_3d(self, params: bytes) -> Response:  # SoftRst (R503)
        ack = self._reply(0x3D, OK).items
        ready = self.power_on()
        return Response([*ack, *self._pause(self.timings.reset), ready])

    def _cmd_53(self, params: bytes) -> Response:  # GetEcho (AS608)
        return Response([framing.ack(self.address, 0x55)])
