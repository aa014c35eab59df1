"""The registry of nodes and of who holds which hall live (pure)."""

from __future__ import annotations

from hub.cluster.registry import NodeInfo, Registry
from hub.cluster.rendezvous import owner

A = NodeInfo("a", "media", "http://a:1")
B = NodeInfo("b", "media", "http://b:1")
API = NodeInfo("api", "api", None)


def registry() -> Registry:
    r = Registry(timeout=4.0)
    for info in (A, B, API):
        r.seen(info, 0.0)
    return r


def test_only_media_nodes_carry_halls() -> None:
    r = registry()
    assert r.media_nodes() == ["a", "b"]
    for branch in range(50):
        assert r.owner(branch).node_id == owner(branch, ["a", "b"])  # type: ignore[union-attr]


def test_silent_node_dies_after_the_timeout_and_its_halls_are_released() -> None:
    r = registry()
    assert r.stream_state(1, "live", "a") and r.stream_state(2, "stalled", "a") and r.stream_state(3, "live", "b")
    r.seen(B, 3.0)
    r.seen(API, 3.0)
    assert r.sweep(4.0) == ([], [])
    dead, branches = r.sweep(4.5)
    assert dead == ["a"] and sorted(branches) == [1, 2]
    assert r.media_nodes() == ["b"]
    assert all(r.owner(b).node_id == "b" for b in range(20))  # type: ignore[union-attr]
    assert r.holder(1).node_id == "b" and r.held_by("b") == (3,)  # type: ignore[union-attr]


def test_a_dead_nodes_late_events_never_show_its_halls_live() -> None:
    r = registry()
    r.stream_state(1, "live", "a")
    assert r.left("a") == [1]
    assert not r.stream_state(1, "live", "a")
    assert 1 not in r.holders


def test_offline_from_the_old_node_does_not_hide_the_hall_live_on_the_new_one() -> None:
    r = registry()
    r.stream_state(1, "live", "a")
    r.stream_state(1, "live", "b")  # the hall reconnected to b
    assert not r.stream_state(1, "offline", "a")
    assert r.holder(1).node_id == "b"  # type: ignore[union-attr]
    assert r.stream_state(1, "offline", "b") and 1 not in r.holders


def test_a_joining_node_learns_what_is_live_from_the_first_heartbeat_only() -> None:
    r = Registry(timeout=4.0)
    assert r.seen(NodeInfo("a", "media", "http://a:1", live=(5, 6)), 0.0) == [(5, "live"), (6, "live")]
    r.stream_state(5, "offline", "a")
    assert r.seen(NodeInfo("a", "media", "http://a:1", live=(5, 6)), 1.0) == []  # stale heartbeat
    assert 5 not in r.holders


def test_whep_goes_to_the_holder_else_the_owner() -> None:
    r = registry()
    branch = next(b for b in range(100) if r.owner(b).node_id == "a")  # type: ignore[union-attr]
    assert r.holder(branch).node_id == "a"  # type: ignore[union-attr]
    r.stream_state(branch, "live", "b")
    assert r.holder(branch).node_id == "b"  # type: ignore[union-attr]


def test_no_media_node_no_owner() -> None:
    r = Registry(timeout=4.0)
    r.seen(API, 0.0)
    assert r.owner(1) is None and r.holder(1) is None


def test_a_node_not_heard_of_yet_may_hold_halls_but_not_once_dead() -> None:
    r = Registry(timeout=4.0)
    assert r.stream_state(1, "live", "new")  # its first heartbeat is on its way
    r.seen(NodeInfo("new", "media", "http://new:1"), 0.0)
    assert r.sweep(5.0) == (["new"], [1])
    assert not r.stream_state(1, "live", "new")
    r.seen(NodeInfo("new", "media", "http://new:1"), 6.0)  # back
    assert r.stream_state(1, "live", "new")
