"""Local media nodes: processes on this machine that the hub starts, watches
and restarts with backoff.

Each slot has a visible state machine (`NodeSupervision`, pure, no asyncio):

    STARTING --answered--> UP --process died--> DEAD --> BACKING_OFF --delay--> STARTING
        |                                        ^
        +------------- failed to start ----------+
    any --stop()--> STOPPED

A node's death detaches its `RemoteNode` at once (its halls go offline on
the wall), raises an alert, and the node is started again after a delay
that doubles with each failure in a row (reset once a node stayed up).
The node process binds its own port (port 0) and reports it over a pipe:
no port is chosen here and taken by someone else before the node binds it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import multiprocessing as mp
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from hub.events import AlertRaised, EventBus
from hub.media import metrics
from hub.media.auth import MediaAuth
from hub.media.config import MediaSettings
from hub.media.errors import Unavailable
from hub.media.remote import RemoteNode
from hub.media.workerapp import run_node

log = logging.getLogger(__name__)


class NodeState(enum.StrEnum):
    STARTING = "starting"
    UP = "up"
    DEAD = "dead"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"


_ALLOWED: dict[NodeState, set[NodeState]] = {
    NodeState.STARTING: {NodeState.UP, NodeState.DEAD},
    NodeState.UP: {NodeState.DEAD},
    NodeState.DEAD: {NodeState.BACKING_OFF},
    NodeState.BACKING_OFF: {NodeState.STARTING},
    NodeState.STOPPED: set(),
}


@dataclass
class NodeSupervision:
    """The state of one supervised node and its restart policy."""

    name: str
    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 30.0  # up this long: the next death starts the delays over
    clock: Callable[[], float] = time.monotonic
    state: NodeState = NodeState.STARTING
    since: float = 0.0
    failures: int = 0  # deaths in a row without a stable run
    restarts: int = 0
    history: list[NodeState] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.since = self.clock()
        self.history.append(self.state)

    def _to(self, state: NodeState) -> None:
        if state is not NodeState.STOPPED and state not in _ALLOWED[self.state]:
            raise ValueError(f"media node {self.name}: no transition {self.state} -> {state}")
        self.state = state
        self.since = self.clock()
        self.history.append(state)

    def answered(self) -> None:
        self._to(NodeState.UP)

    def died(self) -> None:
        if self.state is NodeState.UP and self.clock() - self.since >= self.stable_after:
            self.failures = 0
        self.failures += 1
        self._to(NodeState.DEAD)

    def back_off(self) -> float:
        """Enter BACKING_OFF; returns how long to wait before starting again."""
        self._to(NodeState.BACKING_OFF)
        return self.delay()

    def delay(self) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(0, self.failures - 1))

    def restart(self) -> None:
        self.restarts += 1
        self._to(NodeState.STARTING)

    def stopped(self) -> None:
        self._to(NodeState.STOPPED)


def local_node_count(settings: MediaSettings) -> int:
    """Node processes to run on this machine; 0 means media runs in the hub's
    own process (one in-process node)."""
    count = settings.workers or (os.cpu_count() or 1)
    return count if count > 1 else 0


class LocalNodes:
    """Starts `count` node processes and keeps them running."""

    def __init__(self, count: int, settings: MediaSettings, data_dir: Path, database_url: str,
                 bus: EventBus, auth: MediaAuth) -> None:
        self._settings = settings
        self._data_dir = data_dir
        self._database_url = database_url
        self._bus = bus
        self._secret = secrets.token_urlsafe(32)
        self.nodes = [RemoteNode(f"node-{i}", self._secret, bus, auth) for i in range(count)]
        self.supervision = [NodeSupervision(n.name) for n in self.nodes]
        self.processes: list[Any] = [None] * count
        self._slots: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.on_death: Callable[[RemoteNode], None] = lambda node: None

    async def start(self, timeout: float = 60.0) -> None:
        """Start every node; returns when all are up (raises Unavailable after
        `timeout`; the slots keep trying in the background)."""
        self._slots = [asyncio.create_task(self._run(i), name=f"supervise-{n.name}")
                       for i, n in enumerate(self.nodes)]
        deadline = time.monotonic() + timeout
        while not all(s.state is NodeState.UP for s in self.supervision):
            if time.monotonic() > deadline:
                raise Unavailable("media nodes did not start within "
                                  f"{timeout:g} s; see the hub log")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._slots:
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        for i, node in enumerate(self.nodes):
            await node.stop()
            await self._end_process(i, graceful=True)
            self.supervision[i].stopped()
            metrics.NODE_UP.labels(node.name).set(0)

    def _alert(self, kind: str, message: str) -> None:
        log.warning("alert %s: %s", kind, message)
        self._bus.publish(AlertRaised(branch_id=None, kind=kind, message=message))

    async def _run(self, index: int) -> None:
        node, sup = self.nodes[index], self.supervision[index]
        while not self._stopping.is_set():
            try:
                port = await self._start_process(index)
                await node.attach(f"http://127.0.0.1:{port}")
            except Exception as exc:  # noqa: BLE001 - a failed start is a death, retried
                log.warning("media node %s did not start: %s", node.name, exc)
                sup.died()
            else:
                sup.answered()
                metrics.NODE_UP.labels(node.name).set(1)
                log.info("media node %s up on port %s (pid %s)", node.name, port,
                         self.processes[index].pid)
                await self._until_dead(index)
                proc = self.processes[index]
                if proc is not None:  # its link may end first: its exit code, once it has one
                    await asyncio.to_thread(proc.join, 2)
                sup.died()
                metrics.NODE_UP.labels(node.name).set(0)
                await node.detach(died=True)
                self.on_death(node)
                self._alert("media_node_died",
                            f"media node {node.name} {_ended(self.processes[index])}; "
                            f"its halls reconnect to another node; restarting it in {sup.delay():g} s")
            await self._end_process(index, graceful=False)
            delay = sup.back_off()
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            except TimeoutError:
                pass
            sup.restart()
            metrics.NODE_RESTARTS.labels(node.name).inc()

    async def _start_process(self, index: int) -> int:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=run_node, name=f"media-{self.nodes[index].name}", daemon=True, args=(
            self.nodes[index].name, self._settings.model_dump_json(), str(self._data_dir),
            self._database_url, self._secret, child))
        proc.start()
        child.close()
        self.processes[index] = proc
        try:
            if not await asyncio.to_thread(parent.poll, 60):
                raise Unavailable(f"media node {self.nodes[index].name} reported no port within 60 s")
            port: int = parent.recv()  # EOFError when the process died first
            return port
        finally:
            parent.close()

    async def _until_dead(self, index: int) -> None:
        """Returns when the node's process exits (its sentinel becomes
        readable) or its event stream ends for good."""
        proc = self.processes[index]
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()

        def exited() -> None:
            if not gone.done():
                gone.set_result(None)

        loop.add_reader(proc.sentinel, exited)
        try:
            while not gone.done() and self.nodes[index].up:
                await asyncio.wait([gone], timeout=0.5)
        finally:
            loop.remove_reader(proc.sentinel)

    async def _end_process(self, index: int, *, graceful: bool) -> None:
        proc = self.processes[index]
        if proc is None:
            return
        if proc.is_alive() and graceful:
            proc.terminate()  # SIGTERM: uvicorn runs the engine's stop()
            await asyncio.to_thread(proc.join, 30)
        if proc.is_alive():
            proc.kill()
        await asyncio.to_thread(proc.join, 10)
        proc.close()
        self.processes[index] = None


def _ended(proc: BaseProcess | None) -> str:
    code = proc.exitcode if proc is not None else None
    if code is None:
        return "stopped answering (its process is being ended)"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited (code {code})"
