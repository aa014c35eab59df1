"""Bus events to JSON and back, and what bad input says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.cluster.codec import decode, encode, event_types
from hub.events import (
    AlertRaised,
    CheckInRecorded,
    DeviceHealthReported,
    Event,
    MeetingStarted,
    StreamStateChanged,
)

AT = datetime(2026, 11, 5, 9, 30, 15, 250000, tzinfo=UTC)
EVENTS: list[Event] = [
    CheckInRecorded(branch_id=3, meeting_id="m-1", member_id=9, member_name="张三", checked_in_at=AT,
                    method="fingerprint", late=False, edge_sent_ts=1.5),
    MeetingStarted(branch_id=3, meeting_id="m-1", meeting_type="theme_day", topic="主题党日", started_at=AT),
    StreamStateChanged(branch_id=4, state="live"),
    AlertRaised(branch_id=None, kind="media_node_lost", message="x"),
    DeviceHealthReported(branch_id=1, device_id=2, health={"faults": [{"code": "a"}], "disk": 0.5}),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: Event) -> None:
    assert decode(encode(event)) == event


def test_every_event_type_is_known() -> None:
    types = event_types()
    assert {"CheckInRecorded", "StreamStateChanged", "AlertRaised", "KeyframeRequested", "MeetingEnded"} <= set(types)


@pytest.mark.parametrize(("data", "error"), [
    (b"\xff", "event is not JSON"),
    (b"{", "event is not JSON"),
    (b"[]", "event must be an object with 'type' and 'fields'"),
    (b'{"type": "StreamStateChanged"}', "event must be an object with 'type' and 'fields'"),
    (b'{"type": "Nope", "fields": {}}', "unknown event type 'Nope'"),
    (b'{"type": 5, "fields": {}}', "unknown event type 5"),
    (b'{"type": "StreamStateChanged", "fields": {"branch_id": 1}}', "StreamStateChanged fields do not match"),
    (b'{"type": "StreamStateChanged", "fields": {"branch_id": 1, "state": "live", "x": 1}}',
     "StreamStateChanged fields do not match"),
    (b'{"type": "MeetingEnded", "fields": {"branch_id": 1, "meeting_id": "m", "ended_at": {"$dt": "soon"}}}',
     "event datetime 'soon' is not ISO 8601"),
])
def test_bad_input_says_what_is_wrong(data: bytes, error: str) -> None:
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(").replace("[", r"\[")):
        decode(data)
