"""Codec tests against frames typed by hand from the datasheet (not from our encoder)."""

from __future__ import annotations

import pytest

from devices.fingerprint import codec
from devices.fingerprint.codec import Ack, FrameDecoder, Packet, PacketId

H = bytes.fromhex

# Host -> module commands, default address FFFFFFFF. Checksums worked out by hand.
GOLDEN_COMMANDS = {
    "gen_img": ("EF01 FFFFFFFF 01 0003 01 0005", codec.gen_img()),
    "img2tz_1": ("EF01 FFFFFFFF 01 0004 02 01 0008", codec.img2tz(1)),
    "img2tz_2": ("EF01 FFFFFFFF 01 0004 02 02 0009", codec.img2tz(2)),
    "match": ("EF01 FFFFFFFF 01 0003 03 0007", codec.match()),
    "search": ("EF01 FFFFFFFF 01 0008 04 01 0000 03E8 00F9", codec.search(1, 0, 1000)),
    "reg_model": ("EF01 FFFFFFFF 01 0003 05 0009", codec.reg_model()),
    "store": ("EF01 FFFFFFFF 01 0006 06 01 0005 0013", codec.store(1, 5)),
    "load_char": ("EF01 FFFFFFFF 01 0006 07 02 0102 0013", codec.load_char(2, 0x0102)),
    "up_char": ("EF01 FFFFFFFF 01 0004 08 01 000E", codec.up_char(1)),
    "down_char": ("EF01 FFFFFFFF 01 0004 09 02 0010", codec.down_char(2)),
    "up_image": ("EF01 FFFFFFFF 01 0003 0A 000E", codec.up_image()),
    "down_image": ("EF01 FFFFFFFF 01 0003 0B 000F", codec.down_image()),
    "delete_char": ("EF01 FFFFFFFF 01 0007 0C 0005 0001 001A", codec.delete_char(5, 1)),
    "empty": ("EF01 FFFFFFFF 01 0003 0D 0011", codec.empty()),
    "set_sys_para": ("EF01 FFFFFFFF 01 0005 0E 06 03 001D", codec.set_sys_para(6, 3)),
    "read_sys_para": ("EF01 FFFFFFFF 01 0003 0F 0013", codec.read_sys_para()),
    "set_pwd": ("EF01 FFFFFFFF 01 0007 12 01020304 0024", codec.set_pwd(0x01020304)),
    "vfy_pwd": ("EF01 FFFFFFFF 01 0007 13 00000000 001B", codec.vfy_pwd(0)),
    "get_random_code": ("EF01 FFFFFFFF 01 0003 14 0018", codec.get_random_code()),
    "set_addr": ("EF01 FFFFFFFF 01 0007 15 12345678 0131", codec.set_addr(0x12345678)),
    "hi_speed_search": ("EF01 FFFFFFFF 01 0008 1B 02 0010 00C8 00FE", codec.search(2, 16, 200, high_speed=True)),
    "template_num": ("EF01 FFFFFFFF 01 0003 1D 0021", codec.template_num()),
    "read_index_table": ("EF01 FFFFFFFF 01 0004 1F 00 0024", codec.read_index_table(0)),
    "aura_led": ("EF01 FFFFFFFF 01 0007 35 03 80 02 00 00C2", codec.aura_led_config(3, 0x80, 2, 0)),
    "check_sensor": ("EF01 FFFFFFFF 01 0003 36 003A", codec.check_sensor()),
    "soft_reset": ("EF01 FFFFFFFF 01 0003 3D 0041", codec.soft_reset()),
    "handshake": ("EF01 FFFFFFFF 01 0003 40 0044", codec.handshake()),
    "get_echo": ("EF01 FFFFFFFF 01 0003 53 0057", codec.get_echo()),
}

# Module -> host acknowledgements and data packets.
ACK_OK = "EF01 FFFFFFFF 07 0003 00 000A"
ACK_NO_FINGER = "EF01 FFFFFFFF 07 0003 02 000C"
ACK_SEARCH_FOUND = "EF01 FFFFFFFF 07 0007 00 0005 0046 0059"
ACK_SEARCH_NOT_FOUND = "EF01 FFFFFFFF 07 0007 09 0000 0000 0017"
ACK_MATCH = "EF01 FFFFFFFF 07 0005 00 0046 0052"
ACK_TEMPLATE_NUM = "EF01 FFFFFFFF 07 0005 00 0001 000D"
ACK_SYS_PARA = "EF01 FFFFFFFF 07 0013 00 0000 0009 03E8 0003 FFFFFFFF 0002 0006 0515"
ACK_ECHO = "EF01 FFFFFFFF 07 0003 55 005F"
DATA_END = "EF01 FFFFFFFF 08 0006 01020304 0018"
GOLDEN_REPLIES = [ACK_OK, ACK_NO_FINGER, ACK_SEARCH_FOUND, ACK_SEARCH_NOT_FOUND, ACK_MATCH,
                  ACK_TEMPLATE_NUM, ACK_SYS_PARA, ACK_ECHO, DATA_END]
ALL_GOLDEN = [H(text) for text, _ in GOLDEN_COMMANDS.values()] + [H(t) for t in GOLDEN_REPLIES]


@pytest.mark.parametrize("name", sorted(GOLDEN_COMMANDS))
def test_builders_match_datasheet(name: str) -> None:
    text, request = GOLDEN_COMMANDS[name]
    assert bytes(request) == H(text)
    assert len(H(text)) == 9 + int.from_bytes(H(text)[7:9], "big")


@pytest.mark.parametrize("frame", ALL_GOLDEN, ids=lambda f: f.hex())
def test_round_trip(frame: bytes) -> None:
    assert bytes(Packet.parse(frame)) == frame


def test_parse_fields() -> None:
    p = Packet.parse(H(GOLDEN_COMMANDS["search"][0]))
    assert (p.pid, p.address, p.payload) == (PacketId.COMMAND, 0xFFFFFFFF, H("04 01 0000 03E8"))
    data = Packet.parse(H(DATA_END))
    assert (data.pid, data.payload) == (PacketId.END_DATA, H("01020304"))


def test_ack_parsers_give_typed_results() -> None:
    found = Ack.parse(Packet.parse(H(ACK_SEARCH_FOUND)), codec.Command.SEARCH)
    assert found.ok and codec.SearchResult.parse(found) == codec.SearchResult(page=5, score=70)
    missing = Ack.parse(Packet.parse(H(ACK_SEARCH_NOT_FOUND)), codec.Command.SEARCH)
    assert missing.confirmation is codec.ConfirmationCode.NOT_FOUND and not missing.ok
    assert codec.parse_u16(Ack.parse(Packet.parse(H(ACK_MATCH)), codec.Command.MATCH), "Match") == 70
    assert codec.parse_u16(Ack.parse(Packet.parse(H(ACK_TEMPLATE_NUM)))) == 1
    params = codec.SysParams.parse(Ack.parse(Packet.parse(H(ACK_SYS_PARA)), codec.Command.READ_SYS_PARA))
    assert params == codec.SysParams(0, 9, 1000, 3, 0xFFFFFFFF, 2, 6)
    assert (params.packet_size, params.baud_rate) == (128, 57600)
    assert bytes(Ack(0, bytes(params))) == H(ACK_SYS_PARA)
    echo = Ack.parse(Packet.parse(H(ACK_ECHO)), codec.Command.GET_ECHO)
    assert echo.code == 0x55


def test_index_table_is_lsb_first() -> None:
    value = bytes([0b0000_0101, 0, 0x80]) + bytes(29)
    ack = Ack(0, value)
    assert codec.parse_index_table(ack, 0) == [0, 2, 23]
    assert codec.parse_index_table(ack, 1) == [256, 258, 279]


def test_ack_length_is_checked_per_command() -> None:
    with pytest.raises(ValueError) as info:
        Ack.parse(Packet.parse(H(ACK_OK)), codec.Command.SEARCH)
    assert str(info.value) == "fingerprint acknowledgement to SEARCH has 0 value bytes, expected 4"
    with pytest.raises(ValueError) as info:
        Ack.parse(Packet.parse(H(DATA_END)))
    assert str(info.value) == "fingerprint packet is not an acknowledgement: pid 0x08"


def test_fixed_ack_sizes_from_datasheet() -> None:
    sizes = {r.command: r.ack_size for _, r in GOLDEN_COMMANDS.values()}
    assert sizes[codec.Command.GEN_IMG] == 12
    assert sizes[codec.Command.MATCH] == 14
    assert sizes[codec.Command.SEARCH] == 16
    assert sizes[codec.Command.READ_SYS_PARA] == 28
    assert sizes[codec.Command.READ_INDEX_TABLE] == 44


@pytest.mark.parametrize("frame", ALL_GOLDEN[:3] + ALL_GOLDEN[-9:], ids=lambda f: f.hex())
def test_every_truncation(frame: bytes) -> None:
    for n in range(len(frame)):
        with pytest.raises(ValueError) as info:
            Packet.parse(frame[:n])
        if n < 11:
            assert str(info.value) == f"fingerprint frame is truncated: {n} bytes, need at least 11"
        else:
            assert str(info.value) == f"fingerprint frame is truncated: {n} bytes, length field says {len(frame)}"
        decoder = FrameDecoder()
        assert decoder.feed(frame[:n]) == []
        assert decoder.pending == n  # nothing of a partial frame is dropped
        assert decoder.feed(frame[n:]) == [Packet.parse(frame)]
        assert decoder.skipped == 0


def test_bad_checksum_text() -> None:
    frame = bytearray(H(ACK_OK))
    frame[-1] = 0x0B
    with pytest.raises(ValueError) as info:
        Packet.parse(bytes(frame))
    assert str(info.value) == "fingerprint frame checksum mismatch: got 0x000b, expected 0x000a"


def test_other_parse_errors() -> None:
    with pytest.raises(ValueError) as info:
        Packet.parse(H("EF02 FFFFFFFF 07 0003 00 000A"))
    assert str(info.value) == "fingerprint frame header is invalid: got 0xef02, expected 0xef01"
    with pytest.raises(ValueError) as info:
        Packet.parse(H("EF01 FFFFFFFF 05 0003 00 0008"))
    assert str(info.value) == "fingerprint frame packet identifier is invalid: 0x05"
    with pytest.raises(ValueError) as info:
        Packet.parse(H(ACK_OK) + b"\x00")
    assert str(info.value) == "fingerprint frame has 1 trailing bytes after the checksum"


def test_decoder_reports_bad_checksum_and_keeps_going() -> None:
    bad = bytearray(H(ACK_OK))
    bad[-1] ^= 0xFF
    out = FrameDecoder().feed(bytes(bad) + H(ACK_NO_FINGER))
    assert isinstance(out[0], ValueError)
    assert str(out[0]) == "fingerprint frame checksum mismatch: got 0x00f5, expected 0x000a"
    assert out[1] == Packet.parse(H(ACK_NO_FINGER))
    decoder = FrameDecoder()
    decoder.extend(bytes(bad) + H(ACK_OK))
    with pytest.raises(ValueError, match="checksum mismatch"):
        decoder.next_frame()  # the pull API raises instead
    assert decoder.next_frame() == Packet.parse(H(ACK_OK))
    assert decoder.next_frame() is None


def test_decoder_skips_garbage_and_false_headers() -> None:
    decoder = FrameDecoder()
    garbage = H("00 55 FF EF 37 EF01 0000 EF")  # a false EF01 (impossible pid), then a lone EF
    assert decoder.feed(garbage) == []
    assert decoder.pending >= 1  # the trailing EF may start a header
    out = decoder.feed(H(ACK_OK))
    assert out == [Packet.parse(H(ACK_OK))]
    assert decoder.skipped == len(garbage)
    assert decoder.pending == 0


def test_decoder_never_drops_a_partial_header() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(H("1234 EF")) == []
    assert decoder.pending == 1
    assert decoder.feed(H(ACK_OK)[1:]) == [Packet.parse(H(ACK_OK))]


def test_decoder_one_byte_at_a_time_and_many_at_once() -> None:
    stream = H(ACK_SYS_PARA) + H(DATA_END) + H(ACK_ECHO)
    decoder = FrameDecoder()
    got = [item for byte in stream for item in decoder.feed(bytes([byte]))]
    assert got == [Packet.parse(H(ACK_SYS_PARA)), Packet.parse(H(DATA_END)), Packet.parse(H(ACK_ECHO))]
    assert FrameDecoder().feed(stream) == got


def test_data_packets_split_by_packet_size() -> None:
    packets = codec.data_packets(bytes(range(100)), 32)
    assert [p.pid for p in packets] == [PacketId.DATA] * 3 + [PacketId.END_DATA]
    assert b"".join(p.payload for p in packets) == bytes(range(100))
    assert bytes(codec.data_packets(H("01020304"), 32)[0]) == H(DATA_END)


def test_builder_argument_errors() -> None:
    with pytest.raises(ValueError) as info:
        codec.img2tz(3)
    assert str(info.value) == "char buffer must be 1..2, got 3"
    with pytest.raises(ValueError) as info:
        codec.read_index_table(4)
    assert str(info.value) == "index page must be 0..3, got 4"


def test_confirmation_messages_are_bilingual() -> None:
    for code in codec.ConfirmationCode:
        assert code.message_zh and code.message_en
        assert not code.message_zh.isascii()
    assert codec.ConfirmationCode.NO_FINGER.message == "请把手指平放在指纹仪上 / Please place your finger flat on the reader"
    assert "0x77" in codec.describe(0x77)
    assert codec.confirmation(0x77) == 0x77
