"""Wire codec and reconnect policy, pure (no sockets)."""

from __future__ import annotations

import json
import random
import struct

import pytest

from devices.agent.backoff import Backoff
from devices.agent.errors import ProtocolError
from devices.agent.protocol import Ack, Command, Roster, Thumbnail, Welcome, parse_hub_message


def test_parse_every_hub_message() -> None:
    w = parse_hub_message('{"type":"welcome","id":"x","ts":1,"device_id":3,"branch_id":7,'
                          '"branch_name":"东村","server_ts":2.5}')
    assert w == Welcome(device_id=3, branch_id=7, branch_name="东村", server_ts=2.5)
    a = parse_hub_message('{"type":"ack","id":"m1","ok":false,"duplicate":true,'
                          '"error":{"code":"not_in_branch","detail":"member 4"}}')
    assert isinstance(a, Ack) and not a.ok and a.duplicate and a.error["code"] == "not_in_branch"
    r = parse_hub_message('{"type":"roster","id":"r","ts":1,"version":"v9","members":'
                          '[{"id":4,"member_no":"A1","name":"张三","status":"full",'
                          '"excused":false,"committee":true}]}')
    assert isinstance(r, Roster) and r.members[0].id == "4" and r.members[0].hub_id == 4
    c = parse_hub_message('{"type":"command","id":"c","ts":1,"name":"keyframe"}')
    assert c == Command(id="c", name="keyframe")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "hub frame is not JSON"),
        ("[]", "hub frame is not a JSON object"),
        ('{"type":"ack","ok":true}', "ack message has no 'id' field"),
        ('{"type":"ack","id":"a","ok":"yes"}', "ack field 'ok' has the wrong type"),
        ('{"type":"roster","members":[]}', "roster message has no 'version' field"),
        ('{"type":"roster","version":1,"members":[{"name":"x"}]}',
         "roster member has no 'id' field"),
        ('{"type":"command","id":"c"}', "command message has no 'name' field"),
        ('{"type":"surprise"}', "unknown hub message type 'surprise'"),
    ],
)
def test_bad_hub_messages_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_hub_message(text)
    assert str(info.value).startswith(message)


def test_thumbnail_frame_layout_and_round_trip() -> None:
    header = {"type": "thumbnail", "id": "t-1", "ts": 1.5, "taken_at": 1.0}
    raw = json.dumps(header, separators=(",", ":")).encode()
    frame = struct.pack(">H", len(raw)) + raw + b"\xff\xd8JPEG"
    thumb = Thumbnail.parse(frame)
    assert thumb == Thumbnail(id="t-1", ts=1.5, taken_at=1.0, jpeg=b"\xff\xd8JPEG")
    assert bytes(thumb) == frame
    for cut in range(2 + len(raw)):
        with pytest.raises(ValueError):
            Thumbnail.parse(frame[:cut])
    with pytest.raises(ValueError, match="more than 262144"):
        bytes(Thumbnail.new(b"x" * 262144, 0.0))


def test_backoff_grows_with_jitter_caps_and_resets() -> None:
    b = Backoff(base=1, factor=2, cap=8, jitter=0.5, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    b.reset()
    assert b.next_delay() <= 1
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)
