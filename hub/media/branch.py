"""Per-branch live state: the publisher, its viewers, the recorder, and the
stream state machine (offline -> stalled -> live, from media actually seen).

Everything here runs on the event loop and does no blocking work; the frame
handlers are the per-frame hot path, so they stay small.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection

from hub.media.bitstream import is_keyframe
from hub.media.passthrough import PassThroughReceiver
from hub.media.recorder import Recorder
from hub.media.relay import RelayTrack, TalkbackTrack

log = logging.getLogger(__name__)
OFFLINE, STALLED, LIVE = "offline", "stalled", "live"
# Audio frames handed from the receive path to Python in one call while nobody
# listens live (100 ms of 20 ms Opus frames held at most): one call per group
# instead of per frame was ~5 % of a 256-hall node's CPU. Anyone watching gets
# every frame at once (group 1).
AUDIO_GROUP = 6


class RtpClock:
    """Unwraps 32-bit RTP timestamps and maps them to wall-clock time: the
    mapping of the frame of the first 2 s that arrived soonest after it was
    sent (the least queueing delay), so that a first frame held up by the link
    coming up does not shift every timestamp of the recording; the hall's
    own recording of the same frames is labelled with their capture time,
    and the two must agree for a moment to be recognised as one."""

    __slots__ = ("rate", "_cycles", "_last", "_anchor_ts", "_anchor_wall")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._cycles = 0
        self._last: int | None = None
        self._anchor_ts = 0
        self._anchor_wall = 0.0

    def unwrap(self, ts: int) -> int:
        last = self._last
        if last is None:
            self._anchor_wall = time.time()
            self._anchor_ts = ts
        elif ts < last and last - ts > 0x80000000:
            self._cycles += 1 << 32
        elif ts > last and ts - last > 0x80000000:
            return ts + self._cycles - (1 << 32)  # a late packet from before the wrap
        elif ts + self._cycles - self._anchor_ts < 2 * self.rate:
            # only in the first 2 s (the burst after the link comes up): a mapping
            # that moved later on would make this publisher's segments overlap
            anchor = time.time() - (ts + self._cycles - self._anchor_ts) / self.rate
            if anchor < self._anchor_wall:
                self._anchor_wall = anchor
        self._last = ts
        return ts + self._cycles

    def wall(self, ext_ts: int) -> float:
        return self._anchor_wall + (ext_ts - self._anchor_ts) / self.rate


@dataclass(eq=False)
class PublisherSession:
    session_id: str
    branch_id: int
    device_id: int
    pc: RTCPeerConnection
    video_codec: str
    video: PassThroughReceiver | None = None
    audio: PassThroughReceiver | None = None
    talkback: TalkbackTrack | None = None
    created: float = field(default_factory=time.monotonic)
    last_media: float | None = None
    closing: bool = False
    video_clock: RtpClock = field(default_factory=lambda: RtpClock(90_000))
    audio_clock: RtpClock = field(default_factory=lambda: RtpClock(48_000))
    # added to this publisher's timestamps on the relay, so that viewers see
    # one continuous timeline across publisher replacements
    video_shift: int | None = None
    audio_shift: int | None = None


@dataclass(eq=False)
class ViewerSession:
    session_id: str
    branch_id: int
    user: str
    pc: RTCPeerConnection
    video: RelayTrack | None = None
    audio: RelayTrack | None = None
    operator_id: int = 0
    can_talk: bool = False
    unwatch: Callable[[], None] | None = None
    mic: PassThroughReceiver | None = None
    last_talk: float = 0.0
    closing: bool = False


class BranchMedia:
    def __init__(self, branch_id: int) -> None:
        self.branch_id = branch_id
        self.publisher: PublisherSession | None = None
        self.viewers: dict[str, ViewerSession] = {}
        self.recorder: Recorder | None = None
        self.meeting: tuple[str, str] | None = None  # (meeting_id, meeting_type)
        self.state = OFFLINE
        self.talker: ViewerSession | None = None
        self._relay_video_ts = 0
        self._relay_audio_ts = 0
        # cumulative counters (metrics take deltas)
        self.video_frames = 0
        self.audio_frames = 0
        self.bytes_in = 0
        self.recorded_bytes = 0
        self.recorded_segments = 0

    # -- hot path ---------------------------------------------------------------
    def on_video(self, pub: PublisherSession, data: bytes, rtp_ts: int) -> None:
        if pub is not self.publisher:
            return
        ts = pub.video_clock.unwrap(rtp_ts)
        pub.last_media = time.monotonic()
        self.video_frames += 1
        self.bytes_in += len(data)
        codec = pub.video_codec
        key = is_keyframe(codec, data)
        if self.viewers:
            shift = pub.video_shift
            if shift is None:
                shift = pub.video_shift = self._relay_video_ts + 3000 - ts
            relay_ts = self._relay_video_ts = ts + shift
            for viewer in self.viewers.values():
                if viewer.video is not None:
                    viewer.video.offer(data, relay_ts, key)
        recorder = self.recorder
        if recorder is not None:
            recorder.push_video(codec, data, ts, key, pub.video_clock.wall(ts))

    def on_audio(self, pub: PublisherSession, data: bytes, rtp_ts: int) -> None:
        if pub is not self.publisher:
            return
        ts = pub.audio_clock.unwrap(rtp_ts)
        pub.last_media = time.monotonic()
        self.audio_frames += 1
        self.bytes_in += len(data)
        if self.viewers:
            shift = pub.audio_shift
            if shift is None:
                shift = pub.audio_shift = self._relay_audio_ts + 960 - ts
            relay_ts = self._relay_audio_ts = ts + shift
            for viewer in self.viewers.values():
                if viewer.audio is not None:
                    viewer.audio.offer(data, relay_ts, True)
        recorder = self.recorder
        if recorder is not None:
            recorder.push_audio(data, pub.audio_clock.wall(ts))

    def on_audio_group(self, pub: PublisherSession, frames: list[tuple[bytes, int]]) -> None:
        """Audio frames handed over in a group (nobody listening live): what
        on_audio does, for each."""
        if pub is not self.publisher:
            return
        if self.viewers:  # held before someone started watching: each as it came
            for data, rtp_ts in frames:
                self.on_audio(pub, data, rtp_ts)
            return
        pub.last_media = time.monotonic()
        self.audio_frames += len(frames)
        recorder = self.recorder
        clock = pub.audio_clock
        for data, rtp_ts in frames:
            self.bytes_in += len(data)
            ts = clock.unwrap(rtp_ts)
            if recorder is not None:
                recorder.push_audio(data, clock.wall(ts))

    def audience_changed(self) -> None:
        """Someone started or stopped watching, or a publisher came: group the
        audio only while nobody listens live."""
        pub = self.publisher
        if pub is not None and pub.audio is not None:
            pub.audio.group_audio(functools.partial(self.on_audio_group, pub),
                                  1 if self.viewers else AUDIO_GROUP)

    def flush_audio(self) -> None:
        """Hand the audio held for a group to the recorder now: before a segment
        ends (Recorder's before_cut), the recorder closes or the publisher goes.
        Never raises: it runs inside those."""
        pub = self.publisher
        if pub is not None and pub.audio is not None:
            try:
                pub.audio.flush_audio()
            except Exception:  # noqa: BLE001 - a lost 100 ms of sound, not a stopped recording
                log.exception("branch %s: held audio could not be handed over", self.branch_id)

    def on_talkback(self, viewer: ViewerSession, data: bytes, rtp_ts: int) -> bool:
        """Forward a viewer's microphone frame to the hall. Returns True when
        this viewer has just taken the floor (the caller audits it)."""
        now = time.monotonic()
        viewer.last_talk = now
        taken = False
        if self.talker is not viewer:
            if self.talker is not None and now - self.talker.last_talk < 2.0:
                return False  # someone else is talking
            self.talker = viewer
            taken = True
        pub = self.publisher
        if pub is not None and pub.talkback is not None:
            pub.talkback.offer_from(viewer, data, rtp_ts)
        return taken

    # -- state ------------------------------------------------------------------
    def compute_state(self, now: float, stall_seconds: float) -> str:
        pub = self.publisher
        if pub is None:
            return OFFLINE
        if pub.last_media is None or now - pub.last_media > stall_seconds:
            return STALLED
        return LIVE
