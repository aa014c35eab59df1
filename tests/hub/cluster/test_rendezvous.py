"""Rendezvous hashing: stable, balanced, and only a dead node's halls move."""

from __future__ import annotations

from collections import Counter

from hub.cluster.rendezvous import owner, ranking

NODES = ["media-a", "media-b", "media-c"]


def test_no_node_no_owner() -> None:
    assert owner(7, []) is None
    assert ranking(7, []) == []


def test_same_answer_whatever_the_order_of_nodes() -> None:
    for branch in range(200):
        assert owner(branch, NODES) == owner(branch, list(reversed(NODES))) == owner(str(branch), set(NODES))


def test_halls_spread_over_nodes() -> None:
    counts = Counter(owner(branch, NODES) for branch in range(3000))
    assert set(counts) == set(NODES)
    assert all(800 < c < 1200 for c in counts.values()), counts


def test_only_the_dead_nodes_halls_move_each_to_its_second_choice() -> None:
    before = {b: owner(b, NODES) for b in range(1000)}
    alive = [n for n in NODES if n != "media-b"]
    after = {b: owner(b, alive) for b in range(1000)}
    for branch in range(1000):
        if before[branch] != "media-b":
            assert after[branch] == before[branch]
        else:
            assert after[branch] == ranking(branch, NODES)[1]


def test_a_joining_node_takes_about_a_quarter() -> None:
    before = {b: owner(b, NODES) for b in range(2000)}
    after = {b: owner(b, [*NODES, "media-d"]) for b in range(2000)}
    moved = [b for b in before if before[b] != after[b]]
    assert all(after[b] == "media-d" for b in moved)
    assert 350 < len(moved) < 650
