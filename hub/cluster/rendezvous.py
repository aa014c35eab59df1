"""Rendezvous (highest random weight) hashing: which node carries a hall.

Pure. Every node computes the same answer from the same set of live nodes
with no coordination; when a node dies only its own halls move (each to
the node that ranked second for it), and when one joins it takes about
1/n of the halls from the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def weight(node: str, key: str) -> int:
    digest = hashlib.blake2b(f"{node}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def ranking(key: str | int, nodes: Iterable[str]) -> list[str]:
    """Nodes in order of preference for `key` (ties broken by name)."""
    k = str(key)
    return sorted(set(nodes), key=lambda n: (-weight(n, k), n))


def owner(key: str | int, nodes: Iterable[str]) -> str | None:
    """The node that carries `key`, or None when there is no node."""
    ranked = ranking(key, nodes)
    return ranked[0] if ranked else None
