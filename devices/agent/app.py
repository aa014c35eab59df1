"""Wires the edge agent together and runs it until one stop event is set.

    app = EdgeApp(settings)
    await app.start()        # init_* then start_* steps
    await app.wait()         # until app.stop_event is set (SIGINT/SIGTERM in the CLI)
    await app.shutdown()     # every task stopped, the database closed

Optional parts are behind feature checks: the fingerprint reader driver
(`devices.fingerprint.reader`) and the camera/WHIP publisher
(`devices.media.edge.EdgeMedia`) are used only when configured and
importable; without them the agent still does staff check-ins and keeps the
uplink, so a hall with a broken camera still records attendance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from devices.agent.backoff import Backoff
from devices.agent.faults import ClockWatch, collect_faults
from devices.agent.hall import Hall, ReaderStatus
from devices.agent.meeting import MeetingDesk
from devices.agent.outbox import Outbox
from devices.agent.reader import FingerprintReader
from devices.agent.roster import RosterCache, SlotMap
from devices.agent.store import Store
from devices.agent.uplink import Uplink, UplinkConfig, UplinkState, cancel_all
from devices.config import EdgeSettings

log = logging.getLogger(__name__)

HEADCOUNT_EVERY_S = 60.0
ReaderFactory = Callable[[EdgeSettings], Awaitable[FingerprintReader | None]]


class _KioskServer(uvicorn.Server):
    """uvicorn without its own signal handling: the agent has one stop event."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def default_reader_factory(settings: EdgeSettings) -> FingerprintReader | None:
    """The real driver when configured and present (`devices/fingerprint`)."""
    if not settings.reader_port:
        return None
    try:
        from devices.agent.reader_adapter import open_reader
    except ImportError:
        log.warning("fingerprint reader configured but its driver is not installed")
        return None
    return await asyncio.wait_for(open_reader(settings), 15)


class EdgeApp:
    def __init__(
        self,
        settings: EdgeSettings,
        *,
        reader_factory: ReaderFactory = default_reader_factory,
        backoff: Backoff | None = None,
        with_media: bool = True,
    ) -> None:
        self.settings = settings
        self.reader_factory = reader_factory
        self.backoff = backoff or Backoff(cap=settings.reconnect_cap_s)
        self.with_media = with_media
        self.stop_event = asyncio.Event()
        self.kiosk_closing = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.store: Store
        self.outbox: Outbox
        self.roster: RosterCache
        self.slots: SlotMap
        self.desk: MeetingDesk
        self.hall: Hall
        self.uplink: Uplink
        self.reader: FingerprintReader | None = None
        self.media: Any = None
        self.segments: Any = None  # devices.media.recording.SegmentStore, with media
        self.backfill: Any = None  # devices.agent.backfill.Backfill, with media
        self.clock = ClockWatch()
        self._faults_shown: list[str] = []
        self.kiosk_server: _KioskServer | None = None
        self.kiosk_port: int | None = None
        self._last_headcount = 0.0
        self._last_headcount_sent: int | None = None

    # -- init steps --------------------------------------------------------------
    async def init_store(self) -> None:
        self.store = await Store.open(self.settings.db_path,
                                      reserve_bytes=self.settings.outbox_reserve_mb * 2**20)
        self.outbox = Outbox(self.store)
        self.roster = RosterCache(self.store)
        await self.roster.load()
        self.slots = SlotMap(self.store)
        await self.slots.load()
        self.desk = MeetingDesk(
            self.store, self.outbox, self.roster, self.slots,
            late_grace_s=self.settings.late_grace_min * 60,
        )
        await self.desk.load()

    async def init_reader(self) -> None:
        try:
            self.reader = await self.reader_factory(self.settings)
        except Exception:
            log.exception("could not open the fingerprint reader; staff check-in only")
            self.reader = None

    def init_media(self) -> None:
        if not (self.with_media and self.settings.camera_source):
            return
        try:
            from devices.media.config import MediaSettings
            from devices.media.edge import EdgeMedia
        except ImportError:
            log.warning("camera configured but the media modules are not installed")
            return
        s = self.settings
        # model_validate: the media package's settings are pydantic models
        media_settings = MediaSettings.model_validate({
            "video": {"source": s.camera_source, "mode": s.camera_mode, "width": s.video_width,
                      "height": s.video_height, "fps": s.video_fps,
                      "bitrate": s.video_bitrate_kbps * 1000},
            "thumbnail_interval_s": s.thumbnail_s,
            "audio_source": s.audio_input, "speaker": s.audio_output,
        })
        self.media = EdgeMedia(media_settings, on_analysis=self._on_analysis,
                               on_talkback=lambda _talking: self.hall.changes.notify())

    def init_uplink(self) -> None:
        s = self.settings
        config = UplinkConfig(
            ws_url=s.ws_url, enrol_url=s.enrol_url, token_path=s.token_path,
            token=s.device_token.get_secret_value() if s.device_token else None,
            enrolment_code=s.enrolment_code.get_secret_value() if s.enrolment_code else None,
            heartbeat_s=s.heartbeat_s, connect_timeout_s=s.connect_timeout_s,
            auth_retry_s=s.auth_retry_s, backoff=self.backoff, settings_digest=s.digest(),
            ping_interval_s=s.link_ping_s, ping_timeout_s=s.link_timeout_s,
        )
        self.hall = Hall(self.desk, self.outbox, reader=self.reader,
                         uplink_status=self._uplink_status)
        self.uplink = Uplink(
            config, self.outbox, self.roster, health=self._health,
            on_keyframe=self._on_keyframe, on_ack=self.hall.on_ack,
            on_branch_state=self.hall.on_branch_state,
        )
        self.uplink.on_state(lambda _state: self.hall.changes.notify())

    async def init_fingerprints(self) -> None:
        """Template backup to the hub and restore into the module (devices/agent/fpsync.py)."""
        from devices.agent.fpsync import FingerprintSync

        self.fpsync = FingerprintSync(
            self.store, self.slots, self.roster, hub_url=self.settings.hub_url, token=self._token,
            reader=self.reader, lock=self.hall.module_lock, check_every_s=self.settings.reader_check_s,
        )
        await self.fpsync.open()
        self.slots.reporter = self.fpsync
        self.hall.fingerprints = self.fpsync
        self.uplink.command_handlers["sync_fingerprints"] = self.fpsync.request_sync
        self.uplink.on_state(lambda state: self.fpsync.wake() if state is UplinkState.ONLINE else None)

    def init_kiosk(self) -> None:
        from devices.kiosk.app import create_kiosk_app

        app = create_kiosk_app(
            self.hall, admin_pin=self.settings.admin_pin.get_secret_value(),
            closing=self.kiosk_closing,
        )
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=3,
            access_log=False,
        )
        self.kiosk_server = _KioskServer(config)

    # -- start steps -------------------------------------------------------------
    def _spawn(self, coro: Any, name: str) -> None:
        self.tasks.append(asyncio.create_task(coro, name=name))

    def start_uplink(self) -> None:
        self._spawn(self.uplink.run(self.stop_event), "uplink")

    def start_kiosk(self) -> None:
        assert self.kiosk_server is not None
        sock = socket.socket(socket.AF_INET6 if ":" in self.settings.kiosk_host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.kiosk_host, self.settings.kiosk_port))
        self.kiosk_port = sock.getsockname()[1]
        self._spawn(self.kiosk_server.serve(sockets=[sock]), "kiosk")
        log.info("kiosk page on http://%s:%s/", self.settings.kiosk_host, self.kiosk_port)

    def start_reader(self) -> None:
        if self.reader is not None:
            self._spawn(self._reader_loop(self.reader), "reader")

    async def start_media(self) -> None:
        if self.media is None:
            return
        try:
            await asyncio.wait_for(self.media.start(), 30)
        except Exception:
            log.exception("camera did not start; the agent runs without video")
            self.media = None
            return
        await self._start_backfill()
        self._spawn(self._publishing_loop(), "publishing")

    async def _start_backfill(self) -> None:
        from devices.agent.backfill import Backfill

        self.segments = await asyncio.to_thread(self.media.open_store,
                                                self.settings.data_dir / "recordings")
        self.backfill = Backfill(
            self.segments, hub_url=self.settings.hub_url, token=self._token,
            branch_id=lambda: self.uplink.welcome.branch_id if self.uplink.welcome else None,
            online=lambda: self.online, auth_retry_s=self.settings.auth_retry_s)
        self.uplink.on_state(lambda state: self.backfill.wake() if state is UplinkState.ONLINE else None)
        self._spawn(self.backfill.run(self.stop_event), "backfill")

    async def start(self) -> None:
        await self.init_store()
        await self.init_reader()
        self.init_media()
        self.init_uplink()
        await self.init_fingerprints()
        self.init_kiosk()
        self.start_kiosk()
        self.start_uplink()
        self.start_reader()
        self._spawn(self.fpsync.run(self.stop_event), "fingerprints")
        self._spawn(self._storage_loop(), "storage")
        await self.start_media()

    async def wait(self) -> None:
        await self.stop_event.wait()

    async def shutdown(self) -> None:
        self.stop_event.set()
        self.kiosk_closing.set()
        if hasattr(self, "hall"):
            self.hall.changes.notify()
        if self.kiosk_server is not None:
            self.kiosk_server.should_exit = True
        if self.reader is not None:
            await _within(self.reader.close(), 5, "fingerprint reader close")
        await cancel_all([t for t in self.tasks if t.get_name() == "reader"])
        if self.media is not None:
            await _within(self.media.stop(), 10, "media stop")
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=10)
            await cancel_all(list(pending))
        self.tasks.clear()
        if hasattr(self, "store"):
            await self.store.close()

    # -- loops and callbacks ------------------------------------------------------
    async def _reader_loop(self, reader: FingerprintReader) -> None:
        try:
            async for event in reader.events():
                try:
                    await self.hall.handle_reader_event(event)
                except Exception:
                    log.exception("reader event %r not handled", event)
        except Exception as exc:
            log.exception("fingerprint reader stopped")
            self.hall.set_reader_status(ReaderStatus.FAULT, str(exc))

    async def _storage_loop(self) -> None:
        """Put the check-in reserve back once the disk has room again."""
        while not self.stop_event.is_set():
            if self.store.reserve_used:
                with contextlib.suppress(Exception):
                    if await self.store.run(self.store.ensure_reserve):
                        self.hall.changes.notify()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 10)

    async def _publishing_loop(self) -> None:
        from devices.media.config import PublisherSettings

        publishing = False
        while not self.stop_event.is_set():
            meeting = self.desk.current
            if meeting is not None:  # record locally all meeting long (devices/media/recording.py)
                await self.media.start_recording(
                    meeting.id, self.segments, budget_bytes=self.settings.disk_budget_mb * 2**20,
                    on_pending=self.backfill.wake)
            else:
                await self.media.stop_recording()
            want = self.desk.current is not None and self.uplink.welcome is not None
            if want and not publishing:
                token = await self._token()
                branch = self.uplink.welcome.branch_id if self.uplink.welcome else None
                if token and branch is not None:
                    settings = PublisherSettings.model_validate(
                        {"whip_url": f"{self.settings.hub_url}/whip/{branch}", "token": token,
                         "ice_host_addresses": self.settings.ice_host_addresses})
                    await asyncio.wait_for(self.media.start_publishing(settings), 30)
                    publishing = True
            elif not want and publishing and self.desk.current is None:
                await asyncio.wait_for(self.media.stop_publishing(), 30)
                publishing = False
            faults = [f["code"] for f in self._health().get("faults", [])]
            if faults != self._faults_shown:  # the kiosk shows faults: tell it when they change
                self._faults_shown = faults
                self.hall.changes.notify()
            await self.hall.changes.wait(2.0)

    async def _token(self) -> str | None:
        from devices.agent.enrol import read_token

        if self.settings.device_token:
            return self.settings.device_token.get_secret_value()
        return await read_token(self.settings.token_path)

    async def _on_analysis(self, analysis: Any) -> None:
        await self.uplink.send_thumbnail(analysis.thumbnail_jpeg, analysis.wall_ts)
        now = time.monotonic()
        # at least every minute, and at once when the count changes (the wall's alarm follows)
        if (analysis.headcount is not None and self.desk.current is not None
                and (now - self._last_headcount >= HEADCOUNT_EVERY_S
                     or analysis.headcount != self._last_headcount_sent)):
            self._last_headcount = now
            self._last_headcount_sent = analysis.headcount
            await self.desk.record_headcount(analysis.headcount, taken_at=analysis.wall_ts)

    def _on_keyframe(self) -> None:
        if self.media is not None:
            self.media.request_keyframe()

    def _uplink_status(self) -> dict[str, Any]:
        welcome = self.uplink.welcome if hasattr(self, "uplink") else None
        return {
            "state": self.uplink.state.value if hasattr(self, "uplink") else "offline",
            "error": self.uplink.last_error if hasattr(self, "uplink") else None,
            "branch_name": welcome.branch_name if welcome else None,
            "faults": self._health().get("faults", []) if hasattr(self, "hall") else [],
            "talkback": bool(self.media is not None and self.media.talking),
        }

    def _health(self) -> dict[str, Any]:
        try:
            free_mb = shutil.disk_usage(self.settings.data_dir).free // (1024 * 1024)
        except OSError:
            free_mb = None
        health: dict[str, Any] = {
            "reader": self.hall.reader_status.value,
            "disk_free_mb": free_mb,
            "disk_budget_mb": self.settings.disk_budget_mb,
            "meeting_open": self.desk.current is not None,
            "camera_fps": None,
            "bitrate_kbps": None,
        }
        if self.media is not None:
            with contextlib.suppress(Exception):
                health.update(self.media.health())
        if self.backfill is not None:
            health["backfill"] = self.backfill.status()
            health["pending_upload_bytes"] = health["backfill"]["pending_bytes"]
        self.clock.check()
        health["clock"] = self.clock.status()
        if hasattr(self, "store"):
            health["storage"] = {"reserve_used": self.store.reserve_used,
                                 "unstored_checkins": [u["name"] for u in self.hall.unstored]}
        state = self.uplink.state.value if hasattr(self, "uplink") else None
        health["faults"] = collect_faults(health, uplink_state=state)
        return health

    @property
    def online(self) -> bool:
        return self.uplink.state is UplinkState.ONLINE


async def _within(step: Awaitable[Any], seconds: float, what: str) -> None:
    """Run a shutdown step for at most `seconds`, then cancel it, never waiting
    on it for longer than cancel_all does: `asyncio.wait_for` waits for the
    cancelled step to end, and a step that loses the cancel (Python 3.11's
    wait_for race, a library that catches it) made it wait forever. A
    failure is logged; shutdown goes on."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("%s took over %g s; cancelled", what, seconds)
        await cancel_all([task])
    elif not task.cancelled() and task.exception() is not None:
        log.warning("%s failed: %s", what, task.exception())
