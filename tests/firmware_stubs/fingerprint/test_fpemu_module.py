"""The emulator byte for byte, with frames typed by hand from the datasheet."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from firmware_stubs.fingerprint import FingerprintEmulator

H = bytes.fromhex


class Host:
    """Raw host software: writes hand-typed frames, reads fixed lengths."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 57600, timeout=5)

    def xfer(self, frame_hex: str, reply_len: int) -> bytes:
        self.port.write(bytes.fromhex(frame_hex))
        return self.read(reply_len)

    def read(self, n: int) -> bytes:
        data = self.port.read(n)
        assert len(data) == n, f"expected {n} bytes, got {data.hex()}"
        return data

    def close(self) -> None:
        self.port.close()

GEN_IMG = "EF01 FFFFFFFF 01 0003 01 0005"
IMG2TZ_1 = "EF01 FFFFFFFF 01 0004 02 01 0008"
IMG2TZ_2 = "EF01 FFFFFFFF 01 0004 02 02 0009"
MATCH = "EF01 FFFFFFFF 01 0003 03 0007"
REG_MODEL = "EF01 FFFFFFFF 01 0003 05 0009"
STORE_1_5 = "EF01 FFFFFFFF 01 0006 06 01 0005 0013"
SEARCH_1_0_1000 = "EF01 FFFFFFFF 01 0008 04 01 0000 03E8 00F9"
TEMPLATE_NUM = "EF01 FFFFFFFF 01 0003 1D 0021"
READ_SYS_PARA = "EF01 FFFFFFFF 01 0003 0F 0013"
READ_INDEX_0 = "EF01 FFFFFFFF 01 0004 1F 00 0024"
SET_PWD_01020304 = "EF01 FFFFFFFF 01 0007 12 01020304 0024"
VFY_PWD_0 = "EF01 FFFFFFFF 01 0007 13 00000000 001B"
VFY_PWD_01020304 = "EF01 FFFFFFFF 01 0007 13 01020304 0025"
SOFT_RESET = "EF01 FFFFFFFF 01 0003 3D 0041"
GET_ECHO = "EF01 FFFFFFFF 01 0003 53 0057"
CHECK_SENSOR = "EF01 FFFFFFFF 01 0003 36 003A"
SET_PACKET_32 = "EF01 FFFFFFFF 01 0005 0E 06 00 001A"
SET_SECURITY_9 = "EF01 FFFFFFFF 01 0005 0E 05 09 0022"
UP_CHAR_1 = "EF01 FFFFFFFF 01 0004 08 01 000E"
DOWN_CHAR_2 = "EF01 FFFFFFFF 01 0004 09 02 0010"
UP_CHAR_2 = "EF01 FFFFFFFF 01 0004 08 02 000F"
UP_IMAGE = "EF01 FFFFFFFF 01 0003 0A 000E"
SET_ADDR_12345678 = "EF01 FFFFFFFF 01 0007 15 12345678 0131"

ACK_OK = H("EF01 FFFFFFFF 07 0003 00 000A")
ACK_NO_FINGER = H("EF01 FFFFFFFF 07 0003 02 000C")
ACK_PACKET_ERROR = H("EF01 FFFFFFFF 07 0003 01 000B")
ACK_UNSUPPORTED = H("EF01 FFFFFFFF 07 0003 FC 0106")
ACK_SEARCH_NOT_FOUND = H("EF01 FFFFFFFF 07 0007 09 0000 0000 0017")
ACK_TEMPLATE_NUM_0 = H("EF01 FFFFFFFF 07 0005 00 0000 000C")
ACK_TEMPLATE_NUM_1 = H("EF01 FFFFFFFF 07 0005 00 0001 000D")
ACK_SYS_PARA_R307 = H("EF01 FFFFFFFF 07 0013 00 0000 0009 03E8 0003 FFFFFFFF 0002 0006 0515")
ACK_PASSWORD_REQUIRED = H("EF01 FFFFFFFF 07 0003 21 002B")
ACK_WRONG_PASSWORD = H("EF01 FFFFFFFF 07 0003 13 001D")
ACK_BAD_REGISTER = H("EF01 FFFFFFFF 07 0003 1A 0024")
ACK_ECHO = H("EF01 FFFFFFFF 07 0003 55 005F")
# ReadIndexTable refused: still 44 bytes, 32 zeroed value bytes.
ACK_INDEX_PASSWORD_REQUIRED = H("EF01 FFFFFFFF 07 0023 21" + "00" * 32 + "004B")


@pytest.fixture
def emu(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FingerprintEmulator]:
    model = getattr(request, "param", "R307")
    with FingerprintEmulator(model, link=tmp_path / "fp0", library_path=tmp_path / "lib.json") as e:
        yield e


@pytest.fixture
def host(emu: FingerprintEmulator) -> Iterator[Host]:
    h = Host(emu.device_path)
    yield h
    h.close()


def enrol(host: Host, emu: FingerprintEmulator, finger: str) -> None:
    emu.place_finger(finger)
    for frame in (GEN_IMG, IMG2TZ_1, GEN_IMG, IMG2TZ_2, REG_MODEL, STORE_1_5):
        assert host.xfer(frame, 12) == ACK_OK


def test_power_on_byte(emu: FingerprintEmulator) -> None:
    import os

    fd = os.open(emu.pts_path, os.O_RDONLY | os.O_NOCTTY)
    try:
        assert os.read(fd, 1) == b"\x55"
    finally:
        os.close(fd)


def test_no_finger_and_sys_params(host: Host) -> None:
    assert host.xfer(GEN_IMG, 12) == ACK_NO_FINGER
    assert host.xfer(READ_SYS_PARA, 28) == ACK_SYS_PARA_R307
    assert host.xfer(TEMPLATE_NUM, 14) == ACK_TEMPLATE_NUM_0


def test_enrol_search_and_fixed_lengths(host: Host, emu: FingerprintEmulator) -> None:
    enrol(host, emu, "member-17-right-index")
    assert host.xfer(TEMPLATE_NUM, 14) == ACK_TEMPLATE_NUM_1
    found = host.xfer(SEARCH_1_0_1000, 16)
    assert found[9] == 0x00 and found[10:12] == H("0005") and int.from_bytes(found[12:14], "big") >= 60
    index = host.xfer(READ_INDEX_0, 44)
    assert index[10:14] == H("20000000")  # slot 5: byte 0, bit 5
    emu.place_finger("member-18-right-index")
    assert host.xfer(GEN_IMG, 12) == ACK_OK
    assert host.xfer(IMG2TZ_1, 12) == ACK_OK
    assert host.xfer(SEARCH_1_0_1000, 16) == ACK_SEARCH_NOT_FOUND  # zeroed page and score
    assert host.xfer(MATCH, 14)[9] == 0x08


@pytest.mark.parametrize(("quality", "code"), [("messy", 0x06), ("few_features", 0x07)])
def test_image_quality(host: Host, emu: FingerprintEmulator, quality: str, code: int) -> None:
    emu.place_finger("member-1", quality)
    assert host.xfer(GEN_IMG, 12) == ACK_OK
    assert host.xfer(IMG2TZ_1, 12)[9] == code


def test_bad_checksum_and_garbage(host: Host) -> None:
    assert host.xfer("EF01 FFFFFFFF 01 0003 01 0006", 12) == ACK_PACKET_ERROR
    assert host.xfer("00 13 EF 55 " + GEN_IMG, 12) == ACK_NO_FINGER


def test_one_byte_at_a_time_and_several_frames_at_once(host: Host) -> None:
    for byte in H(TEMPLATE_NUM):
        host.port.write(bytes([byte]))
        host.port.flush()
    assert host.read(14) == ACK_TEMPLATE_NUM_0
    assert host.xfer(GEN_IMG + TEMPLATE_NUM, 26) == ACK_NO_FINGER + ACK_TEMPLATE_NUM_0


@pytest.mark.parametrize(("emu", "reply"), [("R307", ACK_PACKET_ERROR), ("R503", ACK_OK), ("AS608", ACK_PACKET_ERROR)], indirect=["emu"])
def test_check_sensor_by_model(host: Host, reply: bytes) -> None:
    assert host.xfer(CHECK_SENSOR, 12) == reply


@pytest.mark.parametrize(("emu", "reply"), [("R307", ACK_PACKET_ERROR), ("R503", ACK_UNSUPPORTED), ("AS608", ACK_ECHO)], indirect=["emu"])
def test_get_echo_by_model(host: Host, reply: bytes) -> None:
    assert host.xfer(GET_ECHO, 12) == reply


@pytest.mark.parametrize("emu", ["R503"], indirect=True)
def test_password_persists_across_soft_reset(host: Host) -> None:
    assert host.xfer(SET_PWD_01020304, 12) == ACK_OK
    assert host.xfer(SOFT_RESET, 12) == ACK_PASSWORD_REQUIRED  # even a reset needs the password
    assert host.xfer(VFY_PWD_01020304, 12) == ACK_OK
    assert host.xfer(SOFT_RESET, 13) == ACK_OK + b"\x55"
    assert host.xfer(TEMPLATE_NUM, 14)[9] == 0x21
    assert host.xfer(READ_INDEX_0, 44) == ACK_INDEX_PASSWORD_REQUIRED
    assert host.xfer(GEN_IMG, 12) == ACK_PASSWORD_REQUIRED
    assert host.xfer(VFY_PWD_0, 12) == ACK_WRONG_PASSWORD
    assert host.xfer(VFY_PWD_01020304, 12) == ACK_OK
    assert host.xfer(TEMPLATE_NUM, 14) == ACK_TEMPLATE_NUM_0


def test_params_and_library_survive_a_restart(tmp_path: Path) -> None:
    lib = tmp_path / "lib.json"
    with FingerprintEmulator("R307", library_path=lib) as emu:
        host = Host(emu.device_path)
        enrol(host, emu, "member-1")
        assert host.xfer(SET_PACKET_32, 12) == ACK_OK
        assert host.xfer(SET_SECURITY_9, 12) == ACK_BAD_REGISTER
        host.close()
    with FingerprintEmulator("R307", library_path=lib) as emu:
        host = Host(emu.device_path)
        assert host.xfer(TEMPLATE_NUM, 14) == ACK_TEMPLATE_NUM_1
        assert host.xfer(READ_SYS_PARA, 28)[22:24] == H("0000")  # packet-size code 0
        host.close()
    assert "5" in json.loads(lib.read_text())["library"]


def test_up_and_down_char_in_32_byte_packets(host: Host, emu: FingerprintEmulator) -> None:
    enrol(host, emu, "member-1")
    assert host.xfer(SET_PACKET_32, 12) == ACK_OK
    raw = host.xfer(UP_CHAR_1, 12 + 16 * (11 + 32))
    frames = [raw[12 + i * 43 : 12 + (i + 1) * 43] for i in range(16)]
    assert all(f[6] == 0x02 for f in frames[:-1]) and frames[-1][6] == 0x08
    template = b"".join(f[9:41] for f in frames)
    assert len(template) == 512
    assert host.xfer(DOWN_CHAR_2, 12) == ACK_OK
    for f in frames:  # send the same packets back, into buffer 2
        host.port.write(f)
    back = host.xfer(UP_CHAR_2, 12 + 16 * 43)[12:]
    assert back == b"".join(frames)
    assert host.xfer(MATCH, 14)[9] == 0x00


@pytest.mark.parametrize(("emu", "size"), [("R307", 36864), ("R503", 18432)], indirect=["emu"])
def test_up_image_size(host: Host, emu: FingerprintEmulator, size: int) -> None:
    emu.place_finger("member-1")
    assert host.xfer(GEN_IMG, 12) == ACK_OK
    packets = size // 128
    raw = host.xfer(UP_IMAGE, 12 + packets * (11 + 128))
    assert raw[:12] == ACK_OK and raw[-139 + 6] == 0x08


def test_set_address(host: Host) -> None:
    reply = host.xfer(SET_ADDR_12345678, 12)
    assert reply == H("EF01 12345678 07 0003 00 000A")  # sent from the new address
    host.port.write(H(TEMPLATE_NUM))  # the old address is ignored
    host.port.timeout = 0.2
    assert host.port.read(14) == b""
    host.port.timeout = 5
    assert host.xfer("EF01 12345678 01 0003 1D 0021", 14) == H("EF01 12345678 07 0005 00 0000 000C")


def test_faults(host: Host, emu: FingerprintEmulator) -> None:
    emu.inject_garbage(H("00FF13"))
    assert host.xfer(GEN_IMG, 15) == H("00FF13") + ACK_NO_FINGER
    emu.inject_bad_checksum()
    assert host.xfer(GEN_IMG, 12)[-2:] != ACK_NO_FINGER[-2:]
    emu.inject_silence()
    host.port.write(H(GEN_IMG))
    assert host.xfer(GEN_IMG, 12) == ACK_NO_FINGER  # the first command got no reply
    assert host.port.in_waiting == 0


def test_unplug_and_replug(host: Host, emu: FingerprintEmulator) -> None:
    first = emu.pts_path
    emu.unplug()
    assert not Path(emu.device_path).exists()
    with pytest.raises(serial.SerialException):
        host.port.read(1)
    host.close()
    emu.replug()
    assert Path(emu.device_path).resolve() != Path(first) or Path(emu.device_path).exists()
    again = Host(emu.device_path)
    try:
        assert again.xfer(GEN_IMG, 12) == ACK_NO_FINGER
    finally:
        again.close()


def test_control_socket(tmp_path: Path) -> None:
    sock_path = tmp_path / "ctl.sock"
    with FingerprintEmulator("R503", control_path=sock_path) as emu:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock_path))
            f = s.makefile("rwb")

            def call(msg: dict[str, object]) -> dict[str, object]:
                f.write(json.dumps(msg).encode() + b"\n")
                f.flush()
                return json.loads(f.readline())

            reply = call({"finger": "member-17-right-index", "quality": "good"})
            assert reply["ok"] and reply["status"]["finger"]["name"] == "member-17-right-index"  # type: ignore[index]
            assert emu.finger is not None and emu.finger.name == "member-17-right-index"
            assert call({"op": "lift"})["ok"] and emu.finger is None
            assert call({"op": "fault", "fault": "slow", "delay": 2})["status"]["faults"]["delay"] == 2  # type: ignore[index]
            assert call({"op": "clear"})["ok"]
            assert call({"op": "unplug"})["status"]["plugged"] is False  # type: ignore[index]
            assert call({"op": "replug"})["status"]["plugged"] is True  # type: ignore[index]
            emu.firmware.flash.library[3] = bytes(512)
            assert call({"op": "wipe"})["status"]["templates"] == 0  # type: ignore[index]
            bad = call({"op": "fly"})
            assert bad == {"ok": False, "error": "unknown op 'fly': use place, lift, fault, unplug, replug, wipe, clear, status"}
            f.close()
