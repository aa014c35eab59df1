"""This node's link to the other nodes, through NATS.

- Events: every event published on this node's bus goes out on the subject
  `<prefix>.events` (the sending node in a header); events from the other
  nodes come back into the local bus with `publish_from_peer` (never sent
  out again). A queue bounds what waits for the broker: when NATS is away
  events are dropped with a warning (the wall resynchronises from its
  snapshot; check-ins themselves are in PostgreSQL, not in the event).
- Registry: each node puts {role, media_url, live branches} under its
  node id in the JetStream KV bucket `<prefix>_nodes` every heartbeat
  (the bucket's TTL is the node timeout, so a dead node's entry goes away
  on its own); every node watches the bucket and feeds hub/cluster/registry.py.
  A node silent for the timeout is dead: its halls are shown offline at
  once, and WHIP/WHEP routing (redirect.py) picks among the live nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hub.cluster import codec
from hub.cluster.config import ClusterSettings
from hub.cluster.registry import NodeInfo, Registry
from hub.events import AlertRaised, Event, EventBus, StreamStateChanged

log = logging.getLogger(__name__)
NODE_HEADER = "branchlive-node"
OUTBOX = 10_000


def default_node_id(host: str, port: int) -> str:
    return f"{socket.gethostname()}-{host}-{port}".replace(".", "_").replace(":", "_")


class ClusterNode:
    def __init__(self, settings: ClusterSettings, bus: EventBus, *, node_id: str, media_url: str | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not settings.nats_url:
            raise ValueError("ClusterNode needs cluster.nats_url")
        self.settings = settings
        self.bus = bus
        self.node_id = node_id
        self.info = NodeInfo(node_id, settings.role, media_url if settings.serves_media else None)
        self.serves_media = self.info.serves_media
        self.registry = Registry(settings.node_timeout_seconds)
        self._clock = clock
        self._types = codec.event_types()
        self._subject = f"{settings.subject_prefix}.events"
        self._bucket = f"{settings.subject_prefix}_nodes"
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(OUTBOX)
        self._dropped = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._unforward: Callable[[], None] | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._nc: Any = None
        self._kv: Any = None

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        import nats

        s = self.settings
        try:
            self._nc = await nats.connect(
                s.nats_url or "", name=self.node_id, connect_timeout=5, reconnect_time_wait=1,
                max_reconnect_attempts=-1, allow_reconnect=True,
                disconnected_cb=self._disconnected, reconnected_cb=self._reconnected)
        except Exception as exc:
            raise RuntimeError(f"cannot reach the NATS server at {s.nats_url} ({exc}); start it "
                               "(nats-server -js) or empty cluster.nats_url for a single machine") from exc
        js = self._nc.jetstream()
        from nats.js.api import KeyValueConfig, StorageType

        try:
            self._kv = await js.create_key_value(KeyValueConfig(
                bucket=self._bucket, ttl=s.node_timeout_seconds, history=1, storage=StorageType.MEMORY))
        except Exception:  # created by another node with other settings: use it as it is
            self._kv = await js.key_value(self._bucket)
        self.registry.seen(self.info, self._clock())
        await self._heartbeat_once()
        await self._nc.subscribe(self._subject, cb=self._incoming)
        self._unforward = self.bus.forward(self._outgoing)
        self._tasks = [asyncio.create_task(fn(), name=f"cluster-{fn.__name__}")
                       for fn in (self._send_loop, self._heartbeat_loop, self._watch_loop, self._sweep_loop)]
        log.info("cluster node %s (%s) joined through %s", self.node_id, s.role, s.nats_url)

    def on_stop(self, close: Callable[[], Awaitable[None]]) -> None:
        """Something of this node's to close when it leaves (the WHEP relay's connections)."""
        self._closers.append(close)

    async def stop(self) -> None:
        if self._unforward is not None:
            self._unforward()
        deadline = self._clock() + 2.0  # let the last events (halls going offline) reach the others
        while not self._outbox.empty() and self._tasks and self._clock() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for close in self._closers:
            with contextlib.suppress(Exception):
                await close()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._kv.delete(self.node_id), 2)  # leave at once, not after the timeout
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.drain(), 5)

    async def _disconnected(self) -> None:
        log.warning("cluster: lost the NATS server; events between nodes wait (other nodes will count this "
                    "node dead after %g s)", self.settings.node_timeout_seconds)

    async def _reconnected(self) -> None:
        log.warning("cluster: NATS server back")

    # -- events ---------------------------------------------------------------------
    def _outgoing(self, event: Event) -> None:
        """Bus forwarder, on the loop: note our own stream states, queue the event."""
        if isinstance(event, StreamStateChanged):
            self.registry.stream_state(event.branch_id, event.state, self.node_id)
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.warning("cluster: %d events not sent to the other nodes (NATS away or slow)", self._dropped)

    async def _send_loop(self) -> None:
        headers = {NODE_HEADER: self.node_id}
        while True:
            event = await self._outbox.get()
            try:
                await self._nc.publish(self._subject, codec.encode(event), headers=headers)
            except Exception as exc:  # noqa: BLE001 - NATS away: drop, say so, keep going
                self._dropped += 1
                log.warning("cluster: event %s not sent (%s)", type(event).__name__, exc)

    async def _incoming(self, msg: Any) -> None:
        sender = (msg.headers or {}).get(NODE_HEADER)
        if sender == self.node_id:
            return
        try:
            event = codec.decode(msg.data, self._types)
        except ValueError as exc:
            log.warning("cluster: dropped an event from %s: %s", sender, exc)
            return
        if isinstance(event, StreamStateChanged) and not self.registry.stream_state(
                event.branch_id, event.state, str(sender)):
            return
        self.bus.publish_from_peer(event)

    # -- registry ----------------------------------------------------------------------
    def _entry(self) -> bytes:
        return json.dumps({"role": self.info.role, "media_url": self.info.media_url,
                           "live": self.registry.held_by(self.node_id)}).encode()

    async def _heartbeat_once(self) -> None:
        await self._kv.put(self.node_id, self._entry())

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            self.registry.last_seen[self.node_id] = self._clock()  # this node is alive to itself
            try:
                await asyncio.wait_for(self._heartbeat_once(), self.settings.node_timeout_seconds)
            except Exception as exc:  # noqa: BLE001 - NATS away: the others will count us dead
                log.warning("cluster: heartbeat not sent (%s)", exc)

    async def _watch_loop(self) -> None:
        while True:
            try:
                watcher = await self._kv.watchall()
                async for entry in watcher:
                    if entry is not None:
                        self._on_entry(entry)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - rewatch after a broker hiccup
                log.warning("cluster: watching the node registry failed (%s); watching again", exc)
                await asyncio.sleep(self.settings.heartbeat_seconds)

    def _on_entry(self, entry: Any) -> None:
        node_id = entry.key
        if node_id == self.node_id:
            return
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self._node_gone([node_id], self.registry.left(node_id), "left the cluster")
            return
        try:
            data = json.loads(entry.value)
            info = NodeInfo(node_id, str(data["role"]), data.get("media_url"),
                            tuple(int(b) for b in data.get("live", ())))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("cluster: bad registry entry for %s: %s", node_id, exc)
            return
        joined = node_id not in self.registry.nodes
        for branch, state in self.registry.seen(info, self._clock()):
            self.bus.publish_from_peer(StreamStateChanged(branch_id=branch, state=state))
        if joined:
            log.info("cluster: node %s (%s, %s) is alive", node_id, info.role, info.media_url)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.settings.heartbeat_seconds / 2))
            self.registry.last_seen[self.node_id] = self._clock()
            dead, branches = self.registry.sweep(self._clock())
            if dead:
                self._node_gone(dead, branches, f"silent for {self.settings.node_timeout_seconds:g} s")

    def _node_gone(self, nodes: list[str], branches: list[int], why: str) -> None:
        """Show the node's halls offline here now: the node itself cannot say so."""
        for branch in branches:
            self.bus.publish_from_peer(StreamStateChanged(branch_id=branch, state="offline"))
        for node_id in nodes:
            log.log(logging.WARNING if branches else logging.INFO,
                    "cluster: node %s %s; its %d live halls go to the other nodes", node_id, why, len(branches))
            if branches:
                self.bus.publish_from_peer(AlertRaised(
                    branch_id=None, kind="media_node_lost",
                    message=f"媒体节点 {node_id} 失联, {len(branches)} 个会场转到其他节点 "
                            f"media node {node_id} lost; {len(branches)} halls move to the other nodes"))

    # -- routing ---------------------------------------------------------------------------
    def target(self, kind: str, branch_id: int) -> NodeInfo | None:
        """Where a WHIP (`whip`: rendezvous owner) or WHEP (`whep`: the node
        holding the branch, else the owner) POST belongs; None: no media node."""
        return self.registry.owner(branch_id) if kind == "whip" else self.registry.holder(branch_id)
