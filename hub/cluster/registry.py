"""Which nodes are alive and which node holds which branch live. Pure: the
broker side (broker.py) feeds it heartbeats and stream states with the
times it saw them, and acts on what it returns.

A node is alive while its heartbeats keep coming (`timeout` seconds of
silence kill it); a node that leaves cleanly is forgotten at once. A branch
is held by the node whose media plane last said it was live or stalled;
when that node dies, `sweep` hands back its branches so that every node
shows them offline at once (nobody else would: the dead node cannot say so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.cluster import rendezvous

HOLDING = ("live", "stalled")


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    role: str
    media_url: str | None
    live: tuple[int, ...] = ()  # branches this node holds (its own view), for nodes that join later

    @property
    def serves_media(self) -> bool:
        return self.role != "api" and bool(self.media_url)


@dataclass
class Registry:
    timeout: float
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    holders: dict[int, tuple[str, str]] = field(default_factory=dict)  # branch -> (node, state)
    gone: set[str] = field(default_factory=set)  # nodes declared dead or left (until they come back)

    def seen(self, info: NodeInfo, now: float) -> list[tuple[int, str]]:
        """A heartbeat. The first one of a node tells what it holds (a node
        that joins learns what is live elsewhere): returns the branches learnt.
        Later heartbeats only keep it alive (its events say the rest, in order)."""
        first = info.node_id not in self.nodes
        self.gone.discard(info.node_id)
        self.nodes[info.node_id] = info
        self.last_seen[info.node_id] = now
        learnt: list[tuple[int, str]] = []
        for branch in info.live if first else ():
            if branch not in self.holders:
                self.holders[branch] = (info.node_id, "live")
                learnt.append((branch, "live"))
        return learnt

    def left(self, node_id: str) -> list[int]:
        """A node said goodbye (or its key vanished): forget it now."""
        self.nodes.pop(node_id, None)
        self.last_seen.pop(node_id, None)
        self.gone.add(node_id)
        return self._release(node_id)

    def sweep(self, now: float) -> tuple[list[str], list[int]]:
        """Nodes silent for longer than the timeout are dead: returns them and
        the branches they held (to be shown offline)."""
        dead = [n for n, t in self.last_seen.items() if now - t > self.timeout]
        branches: list[int] = []
        for node_id in dead:
            branches += self.left(node_id)
        return dead, branches

    def _release(self, node_id: str) -> list[int]:
        gone = [b for b, (n, _) in self.holders.items() if n == node_id]
        for branch in gone:
            del self.holders[branch]
        return gone

    def stream_state(self, branch_id: int, state: str, node_id: str) -> bool:
        """A StreamStateChanged from `node_id`. Returns False when it must not
        reach the wall: an 'offline' from a node that no longer holds the
        branch (it moved: the hall is live elsewhere), or any state from a
        node this registry has declared dead (a node not heard of yet counts:
        its first heartbeat may still be on its way)."""
        if node_id in self.gone:
            return False
        held = self.holders.get(branch_id)
        if state in HOLDING:
            self.holders[branch_id] = (node_id, state)
            return True
        if held is not None and held[0] != node_id:
            return False
        self.holders.pop(branch_id, None)
        return True

    def media_nodes(self) -> list[str]:
        return sorted(n for n, info in self.nodes.items() if info.serves_media)

    def owner(self, branch_id: int) -> NodeInfo | None:
        """The live media node rendezvous hashing gives this branch."""
        node = rendezvous.owner(branch_id, self.media_nodes())
        return self.nodes[node] if node is not None else None

    def holder(self, branch_id: int) -> NodeInfo | None:
        """The node holding the branch live now, else its owner (WHEP)."""
        held = self.holders.get(branch_id)
        if held is not None and held[0] in self.nodes:
            return self.nodes[held[0]]
        return self.owner(branch_id)

    def held_by(self, node_id: str) -> tuple[int, ...]:
        return tuple(sorted(b for b, (n, _) in self.holders.items() if n == node_id))
