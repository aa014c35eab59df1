"""The one interface of live media: a media node.

A node carries halls' live media: it answers WHIP offers (publish), WHEP
offers (view, with talkback when the viewer may act), asks a hall for a
keyframe, records the meetings it is told about, and reports live state
and counters. Two implementations:

- `InProcessNode` (hub/media/engine.py): the aiortc engine in the hub's own
  process; small setups, the demo and the tests run on it.
- `RemoteNode` (hub/media/remote.py): a node in another process (started
  and restarted by the hub: hub/media/supervisor.py) or on another machine,
  reached over HTTP with the hub's shared secret.

Callers authenticate first (the front, `MediaPlane`, checks device tokens
and operator scopes) and hand the node the result: a device id, a
`MediaViewer`. A node publishes `StreamStateChanged`, `KeyframeRequested`
and `AlertRaised` on the hub's event bus (a remote node relays those of its
process) and hands audits to `MediaAuth.audit`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from hub.media.auth import MediaViewer

__all__ = ["MediaNode", "rendezvous"]


@runtime_checkable
class MediaNode(Protocol):
    name: str

    @property
    def up(self) -> bool:
        """True while the node takes requests (a remote node: its process
        answered and has not died since)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    # -- halls ---------------------------------------------------------------------
    async def publish(self, branch_id: int, device_id: int, offer: str) -> tuple[str, str]:
        """Answer a WHIP offer (already checked by the caller) from the
        authenticated `device_id`; returns (session id, SDP answer)."""

    async def unpublish(self, branch_id: int, device_id: int, session_id: str) -> None: ...

    # -- operators -----------------------------------------------------------------
    async def view(self, who: MediaViewer, branch_id: int, offer: str) -> tuple[str, str]:
        """Answer a WHEP offer; the answer carries talkback (sendrecv audio
        relayed to the hall) only when `who.can_act`."""

    async def unview(self, who: MediaViewer, branch_id: int, session_id: str) -> None: ...

    def request_keyframe(self, branch_id: int) -> None:
        """Ask the hall publishing `branch_id` on this node for a keyframe."""

    # -- recording -----------------------------------------------------------------
    async def open_meeting(self, branch_id: int, meeting_id: str, meeting_type: str) -> None:
        """Record `branch_id` into `meeting_id` from now on; raises when the
        recording could not be started (the caller alerts and retries)."""

    async def close_meeting(self, branch_id: int, meeting_id: str, *, end: bool = True) -> None:
        """Stop recording `branch_id` into `meeting_id`; `end` also ends the
        meeting's recording index (False: it goes on on another node)."""

    # -- state -------------------------------------------------------------------------
    def stream_state(self, branch_id: int) -> str:
        """'live', 'stalled' or 'offline' for a branch on this node."""

    def viewers(self, branch_id: int) -> int: ...

    def held_branches(self) -> set[int]:
        """Branches with a publisher on this node right now."""

    async def counters(self) -> dict[str, Any]:
        """Totals for benchmarks and diagnostics (see InProcessNode.counters)."""


N = TypeVar("N", bound=MediaNode)


def rendezvous(branch_id: int, nodes: Sequence[N]) -> N:
    """Highest-random-weight choice of the node for a branch: every caller
    that sees the same nodes picks the same one, and a node's death only
    moves the branches it held."""
    if not nodes:
        raise ValueError("no media node to choose from")
    return max(nodes, key=lambda n: hashlib.blake2b(f"{n.name}|{branch_id}".encode(),
                                                   digest_size=8).digest())
