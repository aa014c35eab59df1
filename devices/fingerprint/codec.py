"""Pure frame codec for the UART fingerprint module protocol (R307/R503/AS608).

This module owns the wire format: packets (`EF 01 | ADDR | PID | LEN | payload
| SUM`), a streaming decoder, builders for every command in the datasheet,
typed parsers for their acknowledgements, and the confirmation codes with the
kiosk prompts that go with them. It does no I/O and knows nothing of asyncio,
so the emulator, the driver and the tests can all trust it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

# Re-exported so the codec is the one import a host needs.
from .codes import ConfirmationCode as ConfirmationCode
from .codes import confirmation as confirmation
from .codes import describe as describe

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
DEFAULT_PASSWORD = 0x00000000
TEMPLATE_SIZE = 512
SYSTEM_ID = 0x0009
MIN_FRAME_SIZE = 11  # header 2 + address 4 + pid 1 + length 2 + checksum 2
MAX_LENGTH_FIELD = 256 + 2  # the largest data packet plus its checksum
PACKET_SIZES = (32, 64, 128, 256)  # indexed by the packet-size code (register 6)


class PacketId(IntEnum):
    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END_DATA = 0x08


_PIDS = frozenset(int(p) for p in PacketId)


class Command(IntEnum):
    GEN_IMG = 0x01
    IMG2TZ = 0x02
    MATCH = 0x03
    SEARCH = 0x04
    REG_MODEL = 0x05
    STORE = 0x06
    LOAD_CHAR = 0x07
    UP_CHAR = 0x08
    DOWN_CHAR = 0x09
    UP_IMAGE = 0x0A
    DOWN_IMAGE = 0x0B
    DELETE_CHAR = 0x0C
    EMPTY = 0x0D
    SET_SYS_PARA = 0x0E
    READ_SYS_PARA = 0x0F
    SET_PWD = 0x12
    VFY_PWD = 0x13
    GET_RANDOM_CODE = 0x14
    SET_ADDR = 0x15
    HI_SPEED_SEARCH = 0x1B
    TEMPLATE_NUM = 0x1D
    READ_INDEX_TABLE = 0x1F
    AURA_LED_CONFIG = 0x35
    CHECK_SENSOR = 0x36
    SOFT_RESET = 0x3D
    HANDSHAKE = 0x40
    GET_ECHO = 0x53


_COMMANDS = frozenset(int(c) for c in Command)

# Bytes that follow the confirmation code in each acknowledgement. The module
# sends this many on error too (zeroed), so a host always knows the length.
ACK_VALUE_LENGTH: dict[int, int] = {
    Command.MATCH: 2,
    Command.SEARCH: 4,
    Command.HI_SPEED_SEARCH: 4,
    Command.READ_SYS_PARA: 16,
    Command.GET_RANDOM_CODE: 4,
    Command.TEMPLATE_NUM: 2,
    Command.READ_INDEX_TABLE: 32,
}


def ack_frame_size(command: int) -> int:
    """Wire length of the acknowledgement to `command` (12 for a bare code)."""
    return MIN_FRAME_SIZE + 1 + ACK_VALUE_LENGTH.get(command, 0)


class SysParamRegister(IntEnum):
    BAUD = 4
    SECURITY_LEVEL = 5
    PACKET_SIZE = 6


def checksum(pid: int, payload: bytes) -> int:
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


@dataclass(frozen=True)
class Packet:
    """One frame on the wire. `payload` excludes PID, LEN and the checksum."""

    pid: int
    payload: bytes = b""
    address: int = DEFAULT_ADDRESS

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFFFFFF:
            raise ValueError(f"fingerprint frame address is invalid: {self.address}")
        if len(self.payload) + 2 > 0xFFFF:
            raise ValueError(f"fingerprint frame payload is too long: {len(self.payload)} bytes")

    def __bytes__(self) -> bytes:
        length = len(self.payload) + 2
        return (
            HEADER
            + self.address.to_bytes(4, "big")
            + bytes([self.pid])
            + length.to_bytes(2, "big")
            + self.payload
            + checksum(self.pid, self.payload).to_bytes(2, "big")
        )

    @property
    def size(self) -> int:
        return MIN_FRAME_SIZE + len(self.payload)

    @classmethod
    def parse(cls, data: bytes) -> Packet:
        """Parse exactly one frame; raise ValueError saying what is wrong."""
        if len(data) < MIN_FRAME_SIZE:
            raise ValueError(
                f"fingerprint frame is truncated: {len(data)} bytes, need at least {MIN_FRAME_SIZE}"
            )
        if data[:2] != HEADER:
            raise ValueError(f"fingerprint frame header is invalid: got 0x{data[:2].hex()}, expected 0xef01")
        pid = data[6]
        if pid not in _PIDS:
            raise ValueError(f"fingerprint frame packet identifier is invalid: 0x{pid:02x}")
        length = int.from_bytes(data[7:9], "big")
        if length < 2:
            raise ValueError(f"fingerprint frame length is invalid: {length}")
        expected_size = 9 + length
        if len(data) < expected_size:
            raise ValueError(
                f"fingerprint frame is truncated: {len(data)} bytes, length field says {expected_size}"
            )
        if len(data) > expected_size:
            raise ValueError(
                f"fingerprint frame has {len(data) - expected_size} trailing bytes after the checksum"
            )
        payload = bytes(data[9 : 9 + length - 2])
        got = int.from_bytes(data[expected_size - 2 : expected_size], "big")
        expected = checksum(pid, payload)
        if got != expected:
            raise ValueError(f"fingerprint frame checksum mismatch: got 0x{got:04x}, expected 0x{expected:04x}")
        return cls(pid=pid, payload=payload, address=int.from_bytes(data[2:6], "big"))


@dataclass
class FrameDecoder:
    """Reassemble frames from a byte stream.

    Bytes before a header are skipped (and counted in `skipped`); a trailing
    `EF` or any incomplete frame is kept until more bytes arrive. A header
    followed by an impossible PID or length is treated as garbage too, so a
    stray `EF 01` inside noise cannot wedge the stream.
    """

    max_length: int = MAX_LENGTH_FIELD
    skipped: int = 0
    _buffer: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()

    def extend(self, data: bytes) -> None:
        """Buffer bytes for the pull API (`next_frame`)."""
        self._buffer.extend(data)

    def feed(self, data: bytes) -> list[Packet | ValueError]:
        """Add bytes; return every whole frame now available, in order.

        A frame with a bad checksum is consumed and reported in place as a
        ValueError instance, so one bad frame does not hide the next good one.
        """
        self._buffer.extend(data)
        out: list[Packet | ValueError] = []
        while True:
            try:
                packet = self.next_frame()
            except ValueError as exc:
                out.append(exc)
                continue
            if packet is None:
                return out
            out.append(packet)

    def next_frame(self) -> Packet | None:
        """Pop one frame; None if incomplete; ValueError on a bad checksum."""
        buf = self._buffer
        while True:
            start = buf.find(HEADER)
            if start < 0:
                keep = 1 if buf[-1:] == HEADER[:1] else 0
                self._skip(len(buf) - keep)
                return None
            self._skip(start)
            if len(buf) < 9:
                return None
            length = int.from_bytes(buf[7:9], "big")
            if buf[6] not in _PIDS or not 2 <= length <= self.max_length:
                self._skip(1)
                continue
            size = 9 + length
            if len(buf) < size:
                return None
            frame = bytes(buf[:size])
            del buf[:size]
            return Packet.parse(frame)

    def _skip(self, count: int) -> None:
        if count > 0:
            del self._buffer[:count]
            self.skipped += count


# --- commands -------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A command and its parameter bytes, ready to be framed."""

    command: Command
    params: bytes = b""

    def packet(self, address: int = DEFAULT_ADDRESS) -> Packet:
        return Packet(PacketId.COMMAND, bytes([self.command]) + self.params, address)

    def __bytes__(self) -> bytes:
        return bytes(self.packet())

    @property
    def ack_size(self) -> int:
        return ack_frame_size(self.command)


def _u8(name: str, value: int, low: int = 0, high: int = 0xFF) -> bytes:
    if not low <= value <= high:
        raise ValueError(f"{name} must be {low}..{high}, got {value}")
    return bytes([value])


def _u16(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must be 0..65535, got {value}")
    return value.to_bytes(2, "big")


def _u32(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{name} must be 0..0xFFFFFFFF, got {value}")
    return value.to_bytes(4, "big")


def _buffer(buffer_id: int) -> bytes:
    return _u8("char buffer", buffer_id, 1, 2)


def gen_img() -> Request:
    return Request(Command.GEN_IMG)


def img2tz(buffer_id: int) -> Request:
    return Request(Command.IMG2TZ, _buffer(buffer_id))


def match() -> Request:
    return Request(Command.MATCH)


def search(buffer_id: int, start: int, count: int, *, high_speed: bool = False) -> Request:
    command = Command.HI_SPEED_SEARCH if high_speed else Command.SEARCH
    return Request(command, _buffer(buffer_id) + _u16("start page", start) + _u16("page count", count))


def reg_model() -> Request:
    return Request(Command.REG_MODEL)


def store(buffer_id: int, page: int) -> Request:
    return Request(Command.STORE, _buffer(buffer_id) + _u16("page", page))


def load_char(buffer_id: int, page: int) -> Request:
    return Request(Command.LOAD_CHAR, _buffer(buffer_id) + _u16("page", page))


def up_char(buffer_id: int) -> Request:
    return Request(Command.UP_CHAR, _buffer(buffer_id))


def down_char(buffer_id: int) -> Request:
    return Request(Command.DOWN_CHAR, _buffer(buffer_id))


def up_image() -> Request:
    return Request(Command.UP_IMAGE)


def down_image() -> Request:
    return Request(Command.DOWN_IMAGE)


def delete_char(page: int, count: int = 1) -> Request:
    return Request(Command.DELETE_CHAR, _u16("page", page) + _u16("count", count))


def empty() -> Request:
    return Request(Command.EMPTY)


def set_sys_para(register: SysParamRegister | int, value: int) -> Request:
    return Request(Command.SET_SYS_PARA, _u8("register", register) + _u8("value", value))


def read_sys_para() -> Request:
    return Request(Command.READ_SYS_PARA)


def set_pwd(password: int) -> Request:
    return Request(Command.SET_PWD, _u32("password", password))


def vfy_pwd(password: int = DEFAULT_PASSWORD) -> Request:
    return Request(Command.VFY_PWD, _u32("password", password))


def get_random_code() -> Request:
    return Request(Command.GET_RANDOM_CODE)


def set_addr(address: int) -> Request:
    return Request(Command.SET_ADDR, _u32("address", address))


def template_num() -> Request:
    return Request(Command.TEMPLATE_NUM)


def read_index_table(index_page: int) -> Request:
    return Request(Command.READ_INDEX_TABLE, _u8("index page", index_page, 0, 3))


class LedControl(IntEnum):
    """R503 Aura LED control codes (AuraLedConfig, 0x35)."""

    BREATHING = 1
    FLASHING = 2
    ON = 3
    OFF = 4
    GRADUAL_ON = 5
    GRADUAL_OFF = 6


class LedColour(IntEnum):
    RED = 1
    BLUE = 2
    PURPLE = 3
    GREEN = 4
    YELLOW = 5
    CYAN = 6
    WHITE = 7


def aura_led_config(control: int, speed: int, colour: int, times: int = 0) -> Request:
    params = _u8("LED control", control, 1, 6) + _u8("LED speed", speed)
    return Request(Command.AURA_LED_CONFIG, params + _u8("LED colour", colour, 1, 7) + _u8("LED times", times))


def check_sensor() -> Request:
    return Request(Command.CHECK_SENSOR)


def handshake() -> Request:
    return Request(Command.HANDSHAKE)


def soft_reset() -> Request:
    return Request(Command.SOFT_RESET)


def get_echo() -> Request:
    return Request(Command.GET_ECHO)


# --- acknowledgements -----------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """An acknowledgement: the confirmation code and the value bytes after it."""

    code: int
    value: bytes = b""
    address: int = DEFAULT_ADDRESS

    @property
    def ok(self) -> bool:
        return self.code == ConfirmationCode.OK

    @property
    def confirmation(self) -> ConfirmationCode | int:
        return confirmation(self.code)

    def packet(self) -> Packet:
        return Packet(PacketId.ACK, bytes([self.code]) + self.value, self.address)

    def __bytes__(self) -> bytes:
        return bytes(self.packet())

    @classmethod
    def parse(cls, packet: Packet, command: int | None = None) -> Ack:
        """Read an ACK packet; with `command`, also check its fixed length."""
        if packet.pid != PacketId.ACK:
            raise ValueError(f"fingerprint packet is not an acknowledgement: pid 0x{packet.pid:02x}")
        if not packet.payload:
            raise ValueError("fingerprint acknowledgement has no confirmation code")
        ack = cls(packet.payload[0], bytes(packet.payload[1:]), packet.address)
        if command is not None and command != Command.GET_ECHO:
            expected = ACK_VALUE_LENGTH.get(command, 0)
            if len(ack.value) != expected:
                name = Command(command).name if command in _COMMANDS else hex(command)
                raise ValueError(
                    f"fingerprint acknowledgement to {name} has {len(ack.value)} value bytes, expected {expected}"
                )
        return ack


@dataclass(frozen=True)
class SearchResult:
    page: int
    score: int

    @classmethod
    def parse(cls, ack: Ack) -> SearchResult:
        _need(ack, 4, "Search")
        return cls(int.from_bytes(ack.value[0:2], "big"), int.from_bytes(ack.value[2:4], "big"))


@dataclass(frozen=True)
class SysParams:
    status: int
    system_id: int
    capacity: int
    security_level: int
    address: int
    packet_size_code: int
    baud_multiplier: int

    @property
    def packet_size(self) -> int:
        return PACKET_SIZES[self.packet_size_code] if self.packet_size_code < 4 else 0

    @property
    def baud_rate(self) -> int:
        return 9600 * self.baud_multiplier

    def __bytes__(self) -> bytes:
        return (
            self.status.to_bytes(2, "big")
            + self.system_id.to_bytes(2, "big")
            + self.capacity.to_bytes(2, "big")
            + self.security_level.to_bytes(2, "big")
            + self.address.to_bytes(4, "big")
            + self.packet_size_code.to_bytes(2, "big")
            + self.baud_multiplier.to_bytes(2, "big")
        )

    @classmethod
    def parse(cls, ack: Ack) -> SysParams:
        _need(ack, 16, "ReadSysPara")
        v = ack.value
        return cls(
            status=int.from_bytes(v[0:2], "big"),
            system_id=int.from_bytes(v[2:4], "big"),
            capacity=int.from_bytes(v[4:6], "big"),
            security_level=int.from_bytes(v[6:8], "big"),
            address=int.from_bytes(v[8:12], "big"),
            packet_size_code=int.from_bytes(v[12:14], "big"),
            baud_multiplier=int.from_bytes(v[14:16], "big"),
        )


def _need(ack: Ack, size: int, name: str) -> None:
    if len(ack.value) != size:
        raise ValueError(f"fingerprint acknowledgement to {name} has {len(ack.value)} value bytes, expected {size}")


def parse_u16(ack: Ack, name: str = "TemplateNum") -> int:
    """The 2-byte value of Match (score) or TemplateNum (count)."""
    _need(ack, 2, name)
    return int.from_bytes(ack.value, "big")


def parse_random_code(ack: Ack) -> int:
    _need(ack, 4, "GetRandomCode")
    return int.from_bytes(ack.value, "big")


def parse_index_table(ack: Ack, index_page: int) -> list[int]:
    """Used slots from one ReadIndexTable page (bit b of byte k, LSB first)."""
    _need(ack, 32, "ReadIndexTable")
    slots = []
    for k, byte in enumerate(ack.value):
        for b in range(8):
            if byte >> b & 1:
                slots.append(index_page * 256 + 8 * k + b)
    return slots


def data_packets(data: bytes, packet_size: int, address: int = DEFAULT_ADDRESS) -> list[Packet]:
    """Split `data` into DATA packets of `packet_size`, the last one END_DATA."""
    if packet_size not in PACKET_SIZES:
        raise ValueError(f"packet size must be one of {PACKET_SIZES}, got {packet_size}")
    chunks = [data[i : i + packet_size] for i in range(0, len(data), packet_size)] or [b""]
    last = len(chunks) - 1
    return [
        Packet(PacketId.END_DATA if i == last else PacketId.DATA, chunk, address)
        for i, chunk in enumerate(chunks)
    ]
