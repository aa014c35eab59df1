"""The link to one fingerprint module: state, requests, resync, reconnect.

One command is in flight at a time (the module is half-duplex). Every
request has a timeout. After a timeout or a corrupted reply the link is
resynchronised: input flushed, a quiet period waited out so late replies
cannot be taken for the next command's, then a handshake (VfyPwd when a
password is set, then ReadSysPara, whose 28-byte reply cannot be confused
with a stray acknowledgement). If that fails, or the port dies, the link
is dropped and a supervisor task reopens it with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable

from . import codec
from .errors import (
    FingerprintError,
    ProtocolError,
    ReaderDisconnected,
    ReaderTimeout,
    ReaderUnavailable,
    module_error,
)
from .reconnect import Backoff, retry_until_done
from .transport import SerialTransport

log = logging.getLogger(__name__)

_LOST = object()  # put in the inbox when the port dies, to wake a waiting request


async def _get(queue: asyncio.Queue[object], timeout: float) -> object:
    """`queue.get()` with a timeout that never swallows a cancellation.

    Python 3.11's `asyncio.wait_for` returns the inner result when a cancel
    arrives just as the reply does (the module answers a no-finger GenImg at
    once): the check-in scan then kept polling after a pause had cancelled
    it, and a restore stalled until somebody touched the glass.
    `asyncio.timeout` re-raises the cancellation."""
    async with asyncio.timeout(timeout):
        return await queue.get()


class ConnectionState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    READY = "ready"
    BUSY = "busy"
    RESYNCING = "resyncing"
    FAULT = "fault"
    CLOSED = "closed"


StateListener = Callable[[ConnectionState, FingerprintError | None], None]


class FingerprintConnection:
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 57600,
        address: int = codec.DEFAULT_ADDRESS,
        password: int = codec.DEFAULT_PASSWORD,
        timeout: float = 2.0,
        quiet_period: float = 0.1,
        backoff: Backoff | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.address = address
        self.password = password
        self.timeout = timeout
        self.quiet_period = quiet_period
        self.backoff = backoff or Backoff()
        self.sys_params: codec.SysParams | None = None
        self.last_error: FingerprintError | None = None
        self._state = ConnectionState.DISCONNECTED
        self._listeners: list[StateListener] = []
        self._decoder = codec.FrameDecoder()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._transport: SerialTransport | None = None
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._needs_drain = False
        # Set when a request was cancelled before its reply came: a slow module
        # (GenImg takes up to 0.2 s) still answers it, so the next command waits
        # for that reply (or its timeout) instead of taking it for its own.
        self._orphan_until: float | None = None

    # --- state ----------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _set_state(self, state: ConnectionState, error: FingerprintError | None = None) -> None:
        if state is self._state:
            return
        log.debug("fingerprint link %s -> %s", self._state.value, state.value)
        self._state = state
        if error is not None:
            self.last_error = error
        if state in (ConnectionState.READY, ConnectionState.BUSY):
            self._ready.set()
        else:
            self._ready.clear()
        for listener in list(self._listeners):
            listener(state, error)

    async def wait_ready(self, timeout: float | None = None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            raise ReaderUnavailable(
                f"The fingerprint reader at {self.port} did not become ready within {timeout} s; "
                "check the USB cable and the reader's power, or use staff check-in meanwhile"
            ) from self.last_error

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Start the supervisor that connects, and reconnects after a loss."""
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"fingerprint-link {self.port}"
            )

    async def close(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drop_transport()
        self._set_state(ConnectionState.CLOSED)

    async def _supervise(self) -> None:
        while True:
            self._set_state(ConnectionState.CONNECTING)
            await retry_until_done(self._connect, self.backoff, retry_on=(FingerprintError,), on_failure=self._failed)
            self._set_state(ConnectionState.READY)
            self._lost.clear()
            await self._lost.wait()

    def _failed(self, attempt: int, exc: BaseException) -> None:
        if isinstance(exc, FingerprintError):
            self.last_error = exc
        self._drop_transport()
        if attempt == 1 or attempt % 10 == 0:
            log.warning("fingerprint reader connect attempt %d failed: %s", attempt, exc)

    async def _connect(self) -> None:
        self._drop_transport()
        self._decoder.reset()
        self._clear_inbox()
        transport = SerialTransport(self.port, self.baudrate, self._on_data, self._on_lost)
        transport.open()
        self._transport = transport
        async with self._lock:
            await self._handshake()

    def _drop_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # --- bytes in -----------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        skipped = self._decoder.skipped
        for item in self._decoder.feed(data):
            self._orphan_until = None  # whatever was outstanding has answered
            self._inbox.put_nowait(item)
        if self._decoder.skipped != skipped:
            log.info("fingerprint reader: skipped %d garbage bytes", self._decoder.skipped - skipped)

    def _on_lost(self, exc: Exception) -> None:
        self._transport = None
        error = ReaderDisconnected(
            f"The fingerprint reader was disconnected ({exc}); check the USB cable. "
            "The driver reconnects by itself; use staff check-in meanwhile"
        )
        self._inbox.put_nowait(_LOST)
        self._set_state(ConnectionState.DISCONNECTED, error)
        self._lost.set()

    def _clear_inbox(self) -> None:
        while not self._inbox.empty():
            self._inbox.get_nowait()

    # --- requests ---------------------------------------------------------------------

    async def execute(
        self,
        request: codec.Request,
        *,
        timeout: float | None = None,
        send_data: bytes | None = None,
        receive_data: bool = False,
        check: bool = True,
    ) -> tuple[codec.Ack, bytes]:
        """Send one command; return its acknowledgement and any data packets.

        With `check`, a confirmation other than OK raises the matching
        ModuleError. Timeouts and corrupted replies raise after the link has
        been resynchronised (or dropped for reconnection).
        """
        timeout = self.timeout if timeout is None else timeout
        async with self._lock:
            if self._state is not ConnectionState.READY or self._transport is None:
                why = f" ({self.last_error})" if self.last_error is not None else ""
                raise ReaderUnavailable(
                    f"The fingerprint reader is {self._state.value}{why}; check the USB cable and wait for it to reconnect, "
                    "or use staff check-in"
                ) from self.last_error
            self._set_state(ConnectionState.BUSY)
            try:
                if self._needs_drain:
                    await self._drain()
                ack, data = await self._exchange(request, timeout, send_data, receive_data)
            except (ReaderTimeout, ProtocolError) as exc:
                await self._recover(exc)
                raise
            except asyncio.CancelledError:
                self._needs_drain = True  # its reply may still arrive
                self._orphan_until = asyncio.get_running_loop().time() + timeout
                if self._state is ConnectionState.BUSY:
                    self._set_state(ConnectionState.READY)
                raise
            if self._state is ConnectionState.BUSY:
                self._set_state(ConnectionState.READY)
        if check and not ack.ok:
            raise module_error(ack.code, command=request.command.name)
        return ack, data

    async def _exchange(
        self, request: codec.Request, timeout: float, send_data: bytes | None, receive_data: bool
    ) -> tuple[codec.Ack, bytes]:
        self._clear_inbox()
        self._write(bytes(request.packet(self.address)))
        ack = await self._read_ack(request, timeout)
        data = b""
        if ack.ok and send_data is not None:
            size = self.sys_params.packet_size if self.sys_params else 128
            for packet in codec.data_packets(send_data, size, self.address):
                self._write(bytes(packet))
        if ack.ok and receive_data:
            data = await self._read_data(request, timeout)
        return ack, data

    def _write(self, data: bytes) -> None:
        if self._transport is None:
            raise ReaderDisconnected("The fingerprint reader was disconnected; check the USB cable")
        self._transport.write(data)

    async def _next(self, request: codec.Request, deadline: float) -> codec.Packet:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        try:
            if remaining <= 0:
                raise TimeoutError
            item = await _get(self._inbox, remaining)
        except TimeoutError:
            raise ReaderTimeout(
                f"The fingerprint reader did not answer {request.command.name} in time; "
                "it has been resynchronised, try again (if this repeats, check the cable and the baud rate)"
            ) from None
        if item is _LOST:
            raise ReaderDisconnected(
                f"The fingerprint reader was disconnected during {request.command.name}; "
                "check the USB cable, the driver reconnects by itself"
            )
        if isinstance(item, ValueError):
            raise ProtocolError(
                f"Corrupted reply from the fingerprint reader ({item}); it has been resynchronised, try again"
            )
        assert isinstance(item, codec.Packet)
        return item

    async def _read_ack(self, request: codec.Request, timeout: float) -> codec.Ack:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            packet = await self._next(request, deadline)
            try:
                return codec.Ack.parse(packet, request.command)
            except ValueError as exc:
                # Acknowledgement lengths are fixed per command, so a frame of
                # the wrong shape is a late reply to an earlier command: skip it.
                log.info("fingerprint reader: skipped a stale frame (%s)", exc)

    async def _read_data(self, request: codec.Request, timeout: float) -> bytes:
        loop = asyncio.get_running_loop()
        data = bytearray()
        while True:
            # The timeout applies per packet: a whole image takes seconds on a real UART.
            packet = await self._next(request, loop.time() + timeout)
            if packet.pid not in (codec.PacketId.DATA, codec.PacketId.END_DATA):
                raise ProtocolError(
                    f"Expected a data packet after {request.command.name}, got pid 0x{packet.pid:02x}; "
                    "the transfer was abandoned, try again"
                )
            data += packet.payload
            if packet.pid == codec.PacketId.END_DATA:
                return bytes(data)

    # --- resynchronisation ---------------------------------------------------------------

    async def _drain(self) -> None:
        """Wait until the line has been quiet for `quiet_period`, discarding what arrives."""
        if self._transport is not None:
            self._transport.flush_input()
        self._decoder.reset()
        self._clear_inbox()
        loop = asyncio.get_running_loop()
        orphan_until, self._orphan_until = self._orphan_until, None
        if orphan_until is not None and orphan_until > loop.time():
            with contextlib.suppress(TimeoutError):
                item = await _get(self._inbox, orphan_until - loop.time())
                if item is _LOST:
                    raise ReaderDisconnected("The fingerprint reader was disconnected; check the USB cable")
        give_up = loop.time() + self.timeout
        while loop.time() < give_up:
            try:
                item = await _get(self._inbox, self.quiet_period)
            except TimeoutError:
                break
            if item is _LOST:
                raise ReaderDisconnected("The fingerprint reader was disconnected; check the USB cable")
        self._decoder.reset()
        self._needs_drain = False
        # Set when a request was cancelled before its reply came: a slow module
        # (GenImg takes up to 0.2 s) still answers it, so the next command waits
        # for that reply (or its timeout) instead of taking it for its own.
        self._orphan_until = None

    async def _handshake(self) -> None:
        """Prove the module answers, in step, with our password; load its parameters."""
        await self._drain()
        if self.password != codec.DEFAULT_PASSWORD:
            ack = await self._expect(codec.vfy_pwd(self.password))
            if not ack.ok:
                raise module_error(ack.code, command="VFY_PWD")
        ack = await self._expect(codec.read_sys_para())
        if not ack.ok:
            raise module_error(ack.code, command="READ_SYS_PARA")
        self.sys_params = codec.SysParams.parse(ack)

    async def _expect(self, request: codec.Request, attempts: int = 3) -> codec.Ack:
        """Send `request`; skip frames that are not shaped like its reply (late or stray)."""
        last: FingerprintError | None = None
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            self._clear_inbox()
            self._write(bytes(request.packet(self.address)))
            deadline = loop.time() + self.timeout
            while True:
                try:
                    packet = await self._next(request, deadline)
                    return codec.Ack.parse(packet, request.command)
                except (ProtocolError, ValueError) as exc:
                    last = exc if isinstance(exc, FingerprintError) else ProtocolError(str(exc))
                    continue
                except ReaderTimeout as exc:
                    last = exc
                    break
        assert last is not None
        raise last

    async def _recover(self, cause: FingerprintError) -> None:
        self._set_state(ConnectionState.FAULT, cause)
        self._set_state(ConnectionState.RESYNCING, cause)
        try:
            await self._handshake()
        except FingerprintError as exc:
            log.warning("fingerprint reader resync failed (%s); reconnecting", exc)
            self._drop_transport()
            self._set_state(ConnectionState.DISCONNECTED, exc)
            self._lost.set()
            return
        self._needs_drain = True  # replies still queued in a slow module arrive later
        self._set_state(ConnectionState.READY)
