"""What the county wall shows, kept in memory and fed by the event bus.

Built from the database at start-up, then updated by events only, so a
wall socket's snapshot and deltas never query the database. Every change
becomes a message for the wall sockets whose operator may see that branch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.attendance.models import CheckIn, LeaveRequest
from hub.attendance.summary import summarise
from hub.config import Settings
from hub.context import HubContext
from hub.db import read_session, utcnow
from hub.events import (
    AlertRaised,
    CheckInRecorded,
    DeviceConnected,
    DeviceDisconnected,
    DeviceHealthReported,
    Event,
    HeadcountReported,
    LeaveFiled,
    MeetingEnded,
    MeetingScheduled,
    MeetingStarted,
    OrgUnitChanged,
    RosterChanged,
    StreamStateChanged,
    ThumbnailUpdated,
)
from hub.meetings import quorum
from hub.meetings.models import Meeting
from hub.members.models import Member
from hub.organisations.models import OrgUnit

log = logging.getLogger(__name__)

# A camera headcount below this share of the check-ins is a red flag
# (DOMAIN.md: meetings held on paper only, check-ins by proxy).
HEADCOUNT_RATIO = 0.5
HEADCOUNT_MIN_CHECKINS = 4
OVERDUE_AFTER = timedelta(minutes=15)
# Alerts from elsewhere (the media plane) shown on a tile for this long;
# compliance findings belong to the supervision pages, not the live wall.
ALERT_SHOWN_FOR = timedelta(minutes=10)
# Alerts of the hub itself (no branch) every operator's wall shows in its bar for
# as long: a media node that died (its halls are moving), the recordings disk.
HUB_ALERT_KINDS = frozenset({"media_node_died", "disk_low", "recordings_purged"})
NOT_ON_WALL = ("compliance_", "reminder", "notice_", "headcount_low")
FLUSH_SECONDS = 0.05
# Faults in a hall's heartbeat the county must act on: check-ins at risk.
# The hall's own faults (devices/agent/faults.py) an operator must see: check-ins at
# risk, and the devices a live meeting and talkback go through.
HALL_FAULTS_ON_WALL = ("checkin_not_stored", "checkin_reserve_used", "speaker_failed", "microphone_lost",
                       "camera_black", "reader_fault")


@dataclass
class Tile:
    branch_id: int
    name: str
    township: str
    path: str
    device_online: bool = False
    stream: str = "offline"
    meeting: dict[str, Any] | None = None
    present: set[int] = field(default_factory=set)
    leave: set[int] = field(default_factory=set)
    roster: list[quorum.RosterEntry] = field(default_factory=list)
    headcount: int | None = None
    thumbnail_at: float | None = None
    health: dict[str, Any] = field(default_factory=dict)
    next_meeting: dict[str, Any] | None = None
    extra_alerts: dict[str, tuple[datetime, str]] = field(default_factory=dict)  # kind -> (when, message)

    def state(self) -> str:
        if self.meeting is not None:
            return "live" if self.stream == "live" else "stalled"
        if not self.device_online:
            return "offline"
        if self.next_meeting is not None:
            return "scheduled"
        return "idle"

    def alerts(self, now: datetime) -> list[dict[str, str]]:
        out = [{"kind": k, "message": m} for k, (at, m) in self.extra_alerts.items() if now - at < ALERT_SHOWN_FOR]
        if not self.device_online:
            out.append({"kind": "device_offline", "message": "设备离线 device offline"})
        for fault in self.health.get("faults") or []:
            if isinstance(fault, dict) and fault.get("code") in HALL_FAULTS_ON_WALL:
                out.append({"kind": f"hall_{fault['code']}", "message": f"{fault.get('zh', '')} {fault.get('en', '')}"})
        if self.meeting is not None and self.stream != "live":
            out.append({"kind": "stream_down", "message": "会议中但无视频 meeting open, no live video"})
        n = len(self.present)
        if self.meeting is not None and self.headcount is not None and n >= HEADCOUNT_MIN_CHECKINS and self.headcount < n * HEADCOUNT_RATIO:
            out.append({"kind": "headcount_low", "message": f"画面人数 {self.headcount} 远少于签到 {n} camera sees {self.headcount}, {n} checked in"})
        nm = self.next_meeting
        if self.meeting is None and nm is not None and datetime.fromisoformat(nm["scheduled_start"]) + OVERDUE_AFTER < now:
            out.append({"kind": "meeting_overdue", "message": "会议逾期未开 scheduled meeting not started"})
        return out

    def to_json(self, settings: Settings, now: datetime) -> dict[str, Any]:
        q = None
        checked_in, expected, on_leave = len(self.present), sum(1 for m in self.roster if not m.excused), 0
        if self.meeting is not None:
            # The same numbers the hall's kiosk gets (hub/attendance/summary.py).
            mtype = settings.meeting_type(self.meeting["type"])
            summary = summarise(self.meeting["id"], mtype.quorum if mtype else "none", self.roster, self.present,
                                self.leave)
            r = summary.quorum
            q = {"rule": r.rule, "expected": r.expected, "present": r.present, "required": r.required, "met": r.met}
            checked_in, expected, on_leave = summary.present, summary.expected, summary.on_leave
        return {
            "branch_id": self.branch_id, "name": self.name, "township": self.township, "state": self.state(),
            "device_online": self.device_online, "stream": self.stream, "meeting": self.meeting,
            "checked_in": checked_in, "roster": len(self.roster), "expected": expected, "on_leave": on_leave,
            "quorum": q, "headcount": self.headcount,
            "thumbnail_at": self.thumbnail_at, "next_meeting": self.next_meeting, "alerts": self.alerts(now),
            "health": self.health,
        }


@dataclass(eq=False)
class WallClient:
    scope_path: str
    queue: asyncio.Queue[dict[str, Any]]
    overflowed: bool = False


class WallState:
    def __init__(self, ctx: HubContext, queue_size: int = 5000) -> None:
        self.ctx = ctx
        self.tiles: dict[int, Tile] = {}
        self.clients: set[WallClient] = set()
        self.hub_alerts: dict[str, tuple[datetime, str]] = {}  # kind -> (when, message)
        self.queue_size = queue_size
        self._unsubscribe: list[Callable[[], None]] = []
        # Tiles changed since the last flush: a busy hall's tile is sent at
        # most every FLUSH_SECONDS, whatever the rate of check-ins.
        self._dirty: set[int] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        # Branches whose tile is being re-read on a worker thread, with the
        # events that arrived meanwhile (replayed in order once it is read).
        self._reloading: dict[int, list[Event]] = {}

    # ---- loading ---------------------------------------------------------
    def load(self) -> None:
        with self.ctx.session_factory() as s:
            units = {u.id: u for u in s.scalars(select(OrgUnit))}
            for u in units.values():
                if u.kind == "branch" and u.active:
                    self.tiles[u.id] = Tile(u.id, u.name, self._township(units, u), u.path)
            for m in s.scalars(select(Member).where(Member.active.is_(True))):
                if m.branch_id in self.tiles:
                    self.tiles[m.branch_id].roster.append(quorum.RosterEntry(m.id, m.status, m.excused, m.committee))
            for meeting in s.scalars(select(Meeting).where(Meeting.status == "live")):
                tile = self.tiles.get(meeting.branch_id)
                if tile is not None and meeting.started_at is not None:
                    tile.meeting = self._meeting_json(meeting.id, meeting.meeting_type, meeting.topic, meeting.started_at)
                    tile.present = set(s.scalars(select(CheckIn.member_id).where(CheckIn.meeting_id == meeting.id)))
                    tile.leave = set(s.scalars(select(LeaveRequest.member_id).where(LeaveRequest.meeting_id == meeting.id)))
                    tile.headcount = meeting.max_headcount
            self._load_next_meetings(s)

    def _load_next_meetings(self, s: Any) -> None:
        now = utcnow()
        horizon = now + timedelta(hours=24)
        rows = s.scalars(select(Meeting).where(Meeting.status == "scheduled", Meeting.scheduled_start < horizon,
                                               Meeting.scheduled_start > now - timedelta(hours=12)).order_by(Meeting.scheduled_start))
        for m in rows:
            tile = self.tiles.get(m.branch_id)
            if tile is not None and tile.next_meeting is None:
                tile.next_meeting = {"id": m.id, "type": m.meeting_type, "topic": m.topic, "scheduled_start": m.scheduled_start.isoformat()}

    def _reload_next_meeting(self, tile: Tile) -> None:
        now = utcnow()
        with self.ctx.session_factory() as s:
            m = s.scalars(select(Meeting).where(
                Meeting.branch_id == tile.branch_id, Meeting.status == "scheduled",
                Meeting.scheduled_start < now + timedelta(hours=24), Meeting.scheduled_start > now - timedelta(hours=12),
            ).order_by(Meeting.scheduled_start).limit(1)).first()
        tile.next_meeting = None if m is None or m.scheduled_start is None else {
            "id": m.id, "type": m.meeting_type, "topic": m.topic, "scheduled_start": m.scheduled_start.isoformat()}

    @staticmethod
    def _township(units: dict[int, OrgUnit], unit: OrgUnit) -> str:
        for uid in reversed([int(x) for x in unit.path.strip("/").split("/") if x]):
            if units[uid].kind == "township":
                return units[uid].name
        return ""

    def _meeting_json(self, meeting_id: str, mtype: str, topic: str, started_at: datetime) -> dict[str, Any]:
        t = self.ctx.settings.meeting_type(mtype)
        return {"id": meeting_id, "type": mtype, "type_name": t.name_zh if t else mtype,
                "type_name_en": t.name_en if t else mtype, "topic": topic, "started_at": started_at.isoformat()}

    def _read_branch(self, branch_id: int) -> tuple[Tile, list[quorum.RosterEntry]] | None:
        """A branch's tile header and roster, read on a worker thread (no
        state touched here: the loop installs the result). None: no tile for
        this unit (not a branch, or deactivated)."""
        with read_session(self.ctx.session_factory) as s:
            unit = s.get(OrgUnit, branch_id)
            if unit is None or unit.kind != "branch" or not unit.active:
                return None
            units = {u.id: u for u in s.scalars(select(OrgUnit))}
            tile = Tile(unit.id, unit.name, self._township(units, unit), unit.path)
            members = s.scalars(select(Member).where(Member.branch_id == branch_id, Member.active.is_(True)))
            return tile, [quorum.RosterEntry(m.id, m.status, m.excused, m.committee) for m in members]

    def _install(self, found: tuple[Tile, list[quorum.RosterEntry]] | None) -> None:
        if found is None:
            return
        fresh, roster = found
        tile = self.tiles.setdefault(fresh.branch_id, fresh)
        tile.name, tile.township, tile.path, tile.roster = fresh.name, fresh.township, fresh.path, roster

    def _remove(self, branch_id: int) -> None:
        """A branch deactivated (or no longer a branch): open walls drop its tile."""
        tile = self.tiles.pop(branch_id, None)
        self._dirty.discard(branch_id)
        if tile is not None:
            self.broadcast(tile.path, {"type": "tile_removed", "branch_id": branch_id, "ts": time.time()})

    def _reload_branch(self, branch_id: int) -> None:
        self._install(self._read_branch(branch_id))

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = [self.ctx.bus.on(Event, self.apply)]

    def stop(self) -> None:
        for u in self._unsubscribe:
            u()
        if self._flush_handle is not None:
            self._flush_handle.cancel()

    # ---- events ----------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Bus callback, on the event loop: never touches the database. A
        roster or unit change re-reads the branch on a worker thread; the
        branch's later events wait for it, so their order is kept."""
        branch_id = getattr(event, "branch_id", None)
        if branch_id is not None and branch_id in self._reloading:
            self._reloading[branch_id].append(event)
            return
        if isinstance(event, RosterChanged | OrgUnitChanged):
            self._reloading[event.branch_id] = []
            future = asyncio.get_running_loop().run_in_executor(None, self._read_branch, event.branch_id)
            future.add_done_callback(lambda f: self._reloaded(event, f))
            return
        self._apply(event)

    def _reloaded(self, event: RosterChanged | OrgUnitChanged, future: asyncio.Future[Any]) -> None:
        backlog = self._reloading.pop(event.branch_id, [])
        if future.cancelled():
            return
        if future.exception() is not None:
            log.warning("wall: could not re-read branch %s: %s", event.branch_id, future.exception())
        elif (found := future.result()) is None:
            self._remove(event.branch_id)
        else:
            self._install(found)
            self._apply(event)
        for later in backlog:
            self.apply(later)

    def _apply(self, event: Event) -> None:
        branch_id = getattr(event, "branch_id", None)
        tile = self.tiles.get(branch_id) if branch_id is not None else None
        if tile is None:
            if isinstance(event, AlertRaised) and branch_id is None and event.kind in HUB_ALERT_KINDS:
                self.hub_alerts[event.kind] = (utcnow(), event.message)
                self.broadcast("/", {"type": "hub_alerts", "alerts": self._hub_alerts(utcnow()),
                                     "ts": time.time()}, everyone=True)
            return
        extra: dict[str, Any] | None = None
        if isinstance(event, MeetingStarted):
            tile.meeting = self._meeting_json(event.meeting_id, event.meeting_type, event.topic, event.started_at)
            tile.present, tile.leave, tile.headcount = set(), set(), None
            if tile.next_meeting and tile.next_meeting["id"] == event.meeting_id:
                tile.next_meeting = None
        elif isinstance(event, MeetingEnded):
            if tile.meeting and tile.meeting["id"] == event.meeting_id:
                tile.meeting, tile.present, tile.leave, tile.headcount = None, set(), set(), None
        elif isinstance(event, CheckInRecorded):
            if tile.meeting and tile.meeting["id"] == event.meeting_id:
                tile.present.add(event.member_id)
            extra = {"type": "checkin", "branch_id": event.branch_id, "meeting_id": event.meeting_id,
                     "member_id": event.member_id, "name": event.member_name, "at": event.checked_in_at.isoformat(),
                     "method": event.method, "late": event.late, "edge_sent_ts": event.edge_sent_ts}
        elif isinstance(event, LeaveFiled):
            if tile.meeting and tile.meeting["id"] == event.meeting_id:
                tile.leave.add(event.member_id)
        elif isinstance(event, MeetingScheduled):
            self._reload_next_meeting(tile)  # small query, rare event (like a roster change)
        elif isinstance(event, DeviceConnected):
            tile.device_online = True
        elif isinstance(event, DeviceDisconnected):
            tile.device_online = False
        elif isinstance(event, DeviceHealthReported):
            tile.health = event.health
        elif isinstance(event, StreamStateChanged):
            tile.stream = event.state
            if event.state == "live":
                tile.extra_alerts.pop("publisher_lost", None)
        elif isinstance(event, ThumbnailUpdated):
            tile.thumbnail_at = event.taken_at.timestamp()
        elif isinstance(event, HeadcountReported):
            if tile.meeting and (event.meeting_id in (None, tile.meeting["id"])):
                tile.headcount = event.count
        elif isinstance(event, AlertRaised):
            if event.kind.startswith(NOT_ON_WALL):
                return
            tile.extra_alerts[event.kind] = (utcnow(), event.message)
        elif not isinstance(event, RosterChanged | OrgUnitChanged):
            return
        if extra is not None:
            self.broadcast(tile.path, extra)
        self._dirty.add(tile.branch_id)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        now = utcnow()
        dirty, self._dirty = self._dirty, set()
        for branch_id in dirty:
            tile = self.tiles[branch_id]
            self.broadcast(tile.path, {"type": "tile", "tile": tile.to_json(self.ctx.settings, now), "ts": time.time()})

    # ---- clients ---------------------------------------------------------
    def snapshot(self, scope_path: str) -> dict[str, Any]:
        now = utcnow()
        tiles = [t.to_json(self.ctx.settings, now) for t in self.tiles.values() if t.path.startswith(scope_path)]
        tiles.sort(key=lambda t: (t["township"], t["name"]))
        types = [{"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en} for t in self.ctx.settings.meeting_types]
        return {"type": "snapshot", "tiles": tiles, "meeting_types": types, "hub_alerts": self._hub_alerts(now),
                "ts": time.time()}

    def _hub_alerts(self, now: datetime) -> list[dict[str, str]]:
        return [{"kind": kind, "message": message, "at": at.isoformat()}
                for kind, (at, message) in sorted(self.hub_alerts.items()) if now - at < ALERT_SHOWN_FOR]

    def connect(self, scope_path: str) -> WallClient:
        client = WallClient(scope_path, asyncio.Queue(self.queue_size))
        self.clients.add(client)
        return client

    def disconnect(self, client: WallClient) -> None:
        self.clients.discard(client)

    def broadcast(self, path: str, message: dict[str, Any], *, everyone: bool = False) -> None:
        """To the clients whose scope holds `path` (`everyone`: to every client)."""
        for client in self.clients:
            if not everyone and not path.startswith(client.scope_path):
                continue
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                client.overflowed = True

    def tick(self) -> None:
        """Re-evaluate time-based alerts (meeting overdue)."""
        now = utcnow()
        for tile in self.tiles.values():
            if tile.next_meeting and tile.meeting is None:
                self.broadcast(tile.path, {"type": "tile", "tile": tile.to_json(self.ctx.settings, now), "ts": time.time()})
