from __future__ import annotations

import pytest

from devices.agent.outbox import OutboxState
from tests.devices.agent.conftest import OpenParts


async def test_outbox_survives_a_restart_in_order(open_parts: OpenParts) -> None:
    parts = await open_parts()
    ids = [(await parts.outbox.put("headcount", {"meeting_id": None, "count": n,
                                                 "taken_at": 1.0})).id for n in range(5)]
    await parts.store.close()

    again = await open_parts()
    pending = await again.outbox.pending()
    assert [m.id for m in pending] == ids
    assert [m.fields["count"] for m in pending] == [0, 1, 2, 3, 4]
    assert pending[0].to_wire() == {"type": "headcount", "id": ids[0], "ts": pending[0].ts,
                                    "meeting_id": None, "count": 0, "taken_at": 1.0}


async def test_ack_ok_removes_and_ack_not_ok_is_final(open_parts: OpenParts) -> None:
    parts = await open_parts()
    a = await parts.outbox.put("headcount", {"count": 1})
    b = await parts.outbox.put("headcount", {"count": 2})

    done = await parts.outbox.ack(a.id, ok=True, result={})
    assert done.message is not None and done.ok
    refused = await parts.outbox.ack(b.id, ok=False, error={"code": "bad_message",
                                                            "detail": "count"})
    assert refused.error_code == "bad_message"
    assert await parts.outbox.count_pending() == 0
    [rejected] = await parts.outbox.rejected()
    assert rejected.id == b.id and rejected.state is OutboxState.REJECTED
    assert rejected.error_detail == "count"
    # an ack for an id no longer pending changes nothing
    again = await parts.outbox.ack(b.id, ok=True)
    assert again.message is None
    assert await parts.outbox.dismiss(b.id)
    assert await parts.outbox.rejected() == []


async def test_pending_pages_after_a_seq(open_parts: OpenParts) -> None:
    parts = await open_parts()
    msgs = [await parts.outbox.put("headcount", {"count": n}) for n in range(4)]
    page = await parts.outbox.pending(after_seq=msgs[1].seq, limit=1)
    assert [m.id for m in page] == [msgs[2].id]


async def test_only_durable_types_go_through_the_outbox(open_parts: OpenParts) -> None:
    parts = await open_parts()
    with pytest.raises(ValueError, match="does not go through the outbox"):
        await parts.outbox.put("heartbeat", {})
