"""WHIP publisher: one WebRTC session to the hub at a time, rebuilt when it breaks.

State machine (`Publisher.state`, each change passed to `on_state`):

    IDLE --start()--> CONNECTING --connected--> PUBLISHING
                          |                         |  connection failed/closed,
                          v  error / timeout        v  no RTCP from the hub, no media
                     RECONNECTING <-----------------+
                          |  backoff with jitter (token refused: auth_retry_s)
                          +--> CONNECTING ...
    any --stop()--> STOPPED (the hub's resource is DELETEd)

Every await has a timeout. Tracks are built anew for each session by the
factories given; sources and the encoder live on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from devices.camera.backoff import Backoff

from .config import PublisherSettings
from .errors import MediaError, WhipAuthError
from .ice import restrict_host_addresses, rtc_configuration
from .talkback import AudioSink, play_track
from .whip import WhipClient, WhipResource

log = logging.getLogger(__name__)


class PublisherState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    PUBLISHING = "publishing"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    state: PublisherState
    since: float
    sessions: int = 0  # sessions that reached PUBLISHING
    attempts: int = 0  # connection attempts since the last success
    last_error: str = ""
    token_rejected: bool = False
    resource_url: str | None = None
    codec: str | None = None
    retry_in_s: float | None = None


class VideoTrackLike(Protocol):
    kind: str

    def request_keyframe(self) -> None: ...


class _SessionEnded(MediaError):
    pass


@dataclass
class _Session:
    pc: RTCPeerConnection
    video: Any
    video_sender: RTCRtpSender
    resource: WhipResource | None = None
    talkback_task: asyncio.Task[None] | None = None


def codec_preferences(kind: str, first: str) -> list[Any]:
    """aiortc's capabilities for `kind`, the wanted codec first, RTX kept, the rest after."""
    codecs = RTCRtpSender.getCapabilities(kind).codecs
    wanted = [c for c in codecs if c.mimeType.lower() == f"{kind}/{first}"]
    others = [c for c in codecs if c not in wanted and c.name.lower() != "rtx"]
    rtx = [c for c in codecs if c.name.lower() == "rtx"]
    return wanted + others + rtx


def negotiated_codec(answer_sdp: str, kind: str) -> str | None:
    """The first codec of the answer's `kind` section (what the sender will use)."""
    description = SessionDescription.parse(answer_sdp)
    for media in description.media:
        if media.kind == kind and media.port != 0 and media.rtp.codecs:
            return media.rtp.codecs[0].name.lower()
    return None


class Publisher:
    def __init__(
        self,
        settings: PublisherSettings,
        *,
        video_track: Callable[[], MediaStreamTrack],
        audio_track: Callable[[], MediaStreamTrack] | None = None,
        video_codecs: tuple[str, ...] = ("h264", "vp8"),
        audio_codecs: Callable[[], tuple[str, ...]] | None = None,
        talkback_sink: AudioSink | None = None,
        on_state: Callable[[PublisherStatus], None] | None = None,
        on_codec: Callable[[MediaStreamTrack, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._video_factory = video_track
        self._audio_factory = audio_track
        self._video_codecs = video_codecs
        # audio codecs to offer, best first, asked at each connection (an IP camera's G.711
        # is offered as itself before Opus); default Opus only
        self._audio_codecs = audio_codecs or (lambda: ("opus",))
        self._sink = talkback_sink
        self._on_state = on_state
        self._on_codec = on_codec
        self._token = settings.token.get_secret_value()
        self._status = PublisherStatus(PublisherState.IDLE, time.monotonic())
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._session: _Session | None = None
        self._backoff = Backoff(settings.backoff_base_s, settings.backoff_cap_s)
        # time.monotonic() of the last fresh RTCP receiver report: the hub saying it got our
        # media (the local recorder uses it to tell which segments the hub already has)
        self.hub_heard_at: float | None = None

    # ---- public -----------------------------------------------------------
    @property
    def status(self) -> PublisherStatus:
        return self._status

    @property
    def state(self) -> PublisherState:
        return self._status.state

    def hub_receiving(self, within_s: float = 3.0) -> bool:
        """PUBLISHING, and the hub reported receiving our media within `within_s`."""
        heard = self.hub_heard_at
        return (self.state is PublisherState.PUBLISHING and heard is not None
                and time.monotonic() - heard <= within_s)

    @property
    def video_track(self) -> Any:
        return self._session.video if self._session else None

    async def start(self) -> None:
        if self._task is not None:
            return
        if self.settings.ice_host_addresses is not None:
            restrict_host_addresses(self.settings.ice_host_addresses)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="whip-publisher")

    async def stop(self, timeout: float = 10.0) -> None:
        """End publishing: DELETE the hub's resource, close the peer connection."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        self._set(PublisherState.STOPPED, resource_url=None, retry_in_s=None)

    def request_keyframe(self) -> None:
        """The hub asked for a keyframe (a viewer joined): the next frame will be one."""
        track = self.video_track
        if track is not None and hasattr(track, "request_keyframe"):
            track.request_keyframe()

    def update_token(self, token: str) -> None:
        """A new device token: retry at once if the old one was refused."""
        self._token = token
        self._wake.set()

    # ---- state ------------------------------------------------------------
    def _set(self, state: PublisherState | None = None, **changes: Any) -> None:
        old = self._status
        if state is not None and state != old.state:
            changes["state"] = state
            changes["since"] = time.monotonic()
        self._status = replace(old, **changes)
        if state is not None and state != old.state:
            log.info("publisher %s -> %s %s", old.state, state, self._status.last_error)
            if self._on_state is not None:
                try:
                    self._on_state(self._status)
                except Exception:
                    log.exception("publisher state callback failed")

    # ---- supervisor -------------------------------------------------------
    async def _run(self) -> None:
        first = True
        while not self._stopping.is_set():
            self._set(PublisherState.CONNECTING if first else PublisherState.RECONNECTING,
                      attempts=self._status.attempts + 1, retry_in_s=None)
            first = False
            delay: float | None = None
            try:
                session = await self._connect()
                self._backoff.reset()
                self._set(PublisherState.PUBLISHING, sessions=self._status.sessions + 1, attempts=0,
                          last_error="", token_rejected=False,
                          resource_url=session.resource.url if session.resource else None)
                reason = await self._watch(session)
                self._set(PublisherState.RECONNECTING, last_error=reason)
            except WhipAuthError as exc:
                self._set(PublisherState.RECONNECTING, last_error=str(exc), token_rejected=True)
                delay = self.settings.auth_retry_s
            except asyncio.CancelledError:
                await self._teardown(delete=True)
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning("publishing failed: %s", text)
                self._set(PublisherState.RECONNECTING, last_error=text)
            await self._teardown(delete=True)
            if self._stopping.is_set():
                break
            if delay is None:
                delay = self._backoff.next_delay()
            self._set(retry_in_s=round(delay, 2))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _connect(self) -> _Session:
        s = self.settings
        pc = RTCPeerConnection(rtc_configuration(s.ice_triples()))
        video = self._video_factory()
        video_tx = pc.addTransceiver(video, direction="sendonly")
        video_tx.setCodecPreferences(
            [c for name in self._video_codecs for c in codec_preferences("video", name)
             if c.mimeType.lower() == f"video/{name}"]
            + [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name.lower() == "rtx"]
        )
        session = _Session(pc=pc, video=video, video_sender=video_tx.sender)
        self._session = session
        audio: MediaStreamTrack | None = None
        if self._audio_factory is not None:
            audio = self._audio_factory()
            audio_tx = pc.addTransceiver(audio, direction="sendrecv")
        else:
            audio_tx = pc.addTransceiver("audio", direction="recvonly")
        audio_caps = RTCRtpSender.getCapabilities("audio").codecs
        audio_tx.setCodecPreferences([c for name in self._audio_codecs() for c in audio_caps
                                      if c.mimeType.lower() == f"audio/{name}"])

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self._sink is not None:
                session.talkback_task = asyncio.create_task(play_track(track, self._sink))

        # PLI/FIR from the hub reach RTCRtpSender._send_keyframe, which only
        # flags aiortc's own encoder; we encode ourselves, so pass it on.
        original = video_tx.sender._send_keyframe

        def send_keyframe() -> None:
            original()
            if hasattr(video, "request_keyframe"):
                video.request_keyframe()

        video_tx.sender._send_keyframe = send_keyframe  # type: ignore[method-assign]

        offer = await asyncio.wait_for(pc.createOffer(), 5.0)
        # aiortc gathers all candidates inside setLocalDescription: no trickle
        await asyncio.wait_for(pc.setLocalDescription(offer), s.ice_gather_timeout_s)
        client = WhipClient(s.whip_url, self._token, timeout_s=s.http_timeout_s)
        try:
            resource = await asyncio.wait_for(client.publish(pc.localDescription.sdp),
                                              s.http_timeout_s + 1.0)
        finally:
            await client.aclose()
        session.resource = resource
        codec = negotiated_codec(resource.answer_sdp, "video")
        if codec is None:
            raise MediaError("the hub's answer rejected video; check the hub's codec settings")
        self._set(codec=codec)
        if self._on_codec is not None:
            self._on_codec(video, codec)
        if audio is not None and hasattr(audio, "use_codec"):
            audio.use_codec(negotiated_codec(resource.answer_sdp, "audio"))
        await asyncio.wait_for(
            pc.setRemoteDescription(RTCSessionDescription(resource.answer_sdp, "answer")), 10.0)
        await self._wait_connected(pc, s.connect_timeout_s)
        return session

    async def _wait_connected(self, pc: RTCPeerConnection, timeout: float) -> None:
        changed = asyncio.Event()
        pc.on("connectionstatechange", changed.set)
        deadline = time.monotonic() + timeout
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed"):
                raise MediaError(f"WebRTC connection {pc.connectionState} while connecting; "
                                 "check that the hub's media addresses are reachable")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"WebRTC connection not up after {timeout:g} s "
                                   f"(ICE {pc.iceConnectionState})")
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 1.0))

    async def _watch(self, session: _Session) -> str:
        """Return why the session must be rebuilt (or '' when stopping)."""
        s = self.settings
        pc = session.pc
        now = time.monotonic()
        sent_progress = rr_progress = now
        last_sent = -1
        last_rr: object = None
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), s.stats_interval_s)
            if self._stopping.is_set():
                return ""
            if pc.connectionState in ("failed", "closed"):
                return f"WebRTC connection {pc.connectionState}"
            report = await asyncio.wait_for(session.video_sender.getStats(), 5.0)
            now = time.monotonic()
            for stat in report.values():
                if stat.type == "outbound-rtp" and stat.packetsSent != last_sent:
                    last_sent, sent_progress = stat.packetsSent, now
                elif stat.type == "remote-inbound-rtp" and stat.timestamp != last_rr:
                    self.hub_heard_at = now
                    last_rr, rr_progress = stat.timestamp, now
            if now - sent_progress > s.media_timeout_s:
                return f"no video sent for {s.media_timeout_s:g} s"
            if now - rr_progress > s.media_timeout_s:
                return f"no RTCP report from the hub for {s.media_timeout_s:g} s (hub restarted?)"
        return ""

    async def _teardown(self, delete: bool) -> None:
        session, self._session = self._session, None
        self.hub_heard_at = None
        if session is None:
            return
        if delete and session.resource is not None:
            client = WhipClient(self.settings.whip_url, self._token,
                                timeout_s=min(3.0, self.settings.http_timeout_s))
            try:
                await asyncio.wait_for(client.delete(session.resource), 4.0)
            except Exception as exc:  # the hub may be gone: its session times out on its own
                log.info("DELETE %s failed: %s", session.resource.url, exc)
            finally:
                await client.aclose()
        if session.talkback_task is not None:
            session.talkback_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session.talkback_task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.pc.close(), 5.0)
        self._set(resource_url=None)
