"""EdgeMedia: the one object the agent core holds for camera, microphone, publishing, thumbnails.

    media = EdgeMedia(settings, on_analysis=send_thumbnail, on_publisher_state=report)
    await media.start()                         # sources + thumbnails run all the time
    await media.start_recording(meeting_id, store, budget_bytes=...)   # meeting started
    await media.start_publishing(publisher_settings)   # meeting started, hub known
    media.talking                               # the county speaks in the hall (talkback)
    media.request_keyframe()                    # hub: a viewer joined
    await media.stop_publishing()               # meeting ended: DELETE on the hub
    await media.stop_recording()
    media.health()                              # dict for the heartbeat
    await media.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamTrack

from devices.camera.analysis import FrameAnalysis, FrameAnalyzer
from devices.camera.audio import audio_backend_for
from devices.camera.backends import EncodedPacketBackend, backend_for
from devices.camera.frames import AudioChunk, CapturedFrame
from devices.camera.source import CaptureSource, SourceSettings

from .config import MediaSettings, PublisherSettings
from .encoder import VideoEncoder
from .feed import FeedVideoTrack, VideoFeed
from .keyframes import KeyframeGrabber
from .publisher import Publisher, PublisherStatus
from .recording import SegmentRecorder, SegmentStore
from .talkback import AudioSink, EnergySink, SpeakerSink, TalkbackMonitor
from .tracks import SourceAudioTrack


class EdgeMedia:
    def __init__(
        self,
        settings: MediaSettings,
        *,
        on_analysis: Callable[[FrameAnalysis], Awaitable[None] | None] | None = None,
        on_publisher_state: Callable[[PublisherStatus], None] | None = None,
        talkback_sink: AudioSink | None = None,
        on_talkback: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        v = settings.video
        src_settings = SourceSettings(stall_after_s=v.stall_after_s, black_after_s=v.black_after_s)
        self.passthrough = v.mode == "passthrough"
        self.frames: CaptureSource[CapturedFrame] | None = None
        self.packets: CaptureSource[av.Packet] | None = None
        if self.passthrough:
            if not v.source.startswith("rtsp://"):
                raise ValueError("passthrough mode needs an rtsp:// camera source")
            self.packets = CaptureSource(lambda: EncodedPacketBackend(v.source), src_settings)
        else:
            self.frames = CaptureSource(
                lambda: backend_for(v.source, width=v.width, height=v.height, fps=v.fps), src_settings)
        self.audio: CaptureSource[AudioChunk] | None = None
        if settings.audio_source:
            spec = settings.audio_source
            if spec == "camera" and not self.passthrough and not v.source.startswith("rtsp://"):
                raise ValueError("audio_input = camera needs an rtsp:// camera")
            audio_backend_for(spec, v.source)  # a bad setting fails here, not in the capture thread
            self.audio = CaptureSource(lambda: audio_backend_for(spec, v.source))  # type: ignore[arg-type,return-value]
        self.encoder = VideoEncoder(v.encoder_settings())
        if talkback_sink is None:
            talkback_sink = (EnergySink() if settings.speaker == "record" else None
                             if settings.speaker == "none" else SpeakerSink(settings.speaker))
        # the monitor tells the kiosk while the county speaks ("县里正在讲话")
        self.talkback = (TalkbackMonitor(talkback_sink, on_change=on_talkback)
                         if talkback_sink is not None else None)
        self.talkback_sink = talkback_sink
        self.analyzer: FrameAnalyzer | None = None
        # pass-through never decodes the stream: pictures come from one keyframe every few seconds
        self.keyframes = (KeyframeGrabber(self.packets, interval_s=max(0.5, settings.thumbnail_interval_s / 2))
                          if self.packets is not None and on_analysis is not None else None)
        latest_source: Callable[[], CapturedFrame | None] | None = None
        if self.frames is not None:
            latest_source = lambda: self.frames.latest if self.frames else None  # noqa: E731
        elif self.keyframes is not None:
            latest_source = lambda: self.keyframes.latest if self.keyframes else None  # noqa: E731
        if latest_source is not None and on_analysis is not None:
            self.analyzer = FrameAnalyzer(
                latest_source, on_analysis, interval_s=settings.thumbnail_interval_s,
                thumb_size=(settings.thumbnail_width, settings.thumbnail_height),
                quality=settings.thumbnail_quality, count_people=settings.headcount,
                headcount_interval_s=settings.headcount_interval_s)
        self._on_publisher_state = on_publisher_state
        self.publisher: Publisher | None = None
        # encode once: the publisher's track and the local recorder share this feed
        self.feed = (VideoFeed(packets=self.packets, fps=v.fps) if self.packets is not None
                     else VideoFeed(frames=self.frames, encoder=self.encoder, fps=v.fps))
        self.recorder: SegmentRecorder | None = None
        self._capture_mark: tuple[float, int] | None = None
        self._writer_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="recorder")

    async def start(self) -> None:
        for source in (self.frames, self.packets, self.audio):
            if source is not None:
                await source.start()
        if self.keyframes is not None:
            await self.keyframes.start()
        if self.analyzer is not None:
            await self.analyzer.start()

    @property
    def talking(self) -> bool:
        """The county is speaking in the hall right now (talkback above the noise)."""
        return self.talkback is not None and self.talkback.talking

    async def stop(self) -> None:
        await self.stop_publishing()
        await self.stop_recording()
        await self.feed.stop()
        self._writer_pool.shutdown(wait=False)
        if self.analyzer is not None:
            await self.analyzer.stop()
        if self.keyframes is not None:
            await self.keyframes.stop()
        for source in (self.frames, self.packets, self.audio):
            if source is not None:
                await source.stop()
        if self.talkback is not None:
            await self.talkback.close()

    def _video_track(self) -> MediaStreamTrack:
        return FeedVideoTrack(self.feed)

    def _audio_track(self) -> MediaStreamTrack:
        assert self.audio is not None
        return SourceAudioTrack(self.audio)

    def _audio_codecs(self) -> tuple[str, ...]:
        """Opus; an IP camera's G.711 first as itself, so a far end that takes it gets it untouched."""
        latest = self.audio.latest if self.audio is not None else None
        if latest is not None and latest.codec in ("pcma", "pcmu"):
            return (latest.codec, "opus")
        return ("opus",)

    def _on_codec(self, track: MediaStreamTrack, codec: str) -> None:
        # the hub picked VP8 over our H.264 (or the reverse): encode what it asked for
        if not self.feed.passthrough and codec != self.encoder.settings.codec:
            self.encoder = VideoEncoder(replace(self.encoder.settings, codec=codec))  # type: ignore[arg-type]
            self.feed.encoder = self.encoder
            self.feed.request_keyframe()

    async def start_publishing(self, settings: PublisherSettings) -> Publisher:
        await self.stop_publishing()
        await self.feed.start()
        codecs = ("h264",) if self.passthrough else (
            (self.settings.video.codec,) + tuple(c for c in ("h264", "vp8") if c != self.settings.video.codec))
        self.publisher = Publisher(
            settings, video_track=self._video_track,
            audio_track=self._audio_track if self.audio is not None else None,
            video_codecs=codecs, audio_codecs=self._audio_codecs, talkback_sink=self.talkback,
            on_state=self._on_publisher_state, on_codec=self._on_codec)
        await self.publisher.start()
        return self.publisher

    async def stop_publishing(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()
            self.publisher = None

    def request_keyframe(self) -> None:
        self.feed.request_keyframe()

    def hub_receiving(self) -> bool:
        return self.publisher is not None and self.publisher.hub_receiving()

    async def start_recording(self, meeting_id: str, store: SegmentStore, *, budget_bytes: int,
                              on_pending: Callable[[], None] | None = None,
                              segment_s: float = 6.0) -> SegmentRecorder:
        """Record the meeting locally (stream copy of the feed); see recording.py for why always."""
        if self.recorder is not None and self.recorder.meeting_id == meeting_id:
            return self.recorder
        await self.stop_recording()
        await self.feed.start()
        v = self.settings.video
        self.recorder = SegmentRecorder(
            self.feed, store, meeting_id=meeting_id, width=v.width, height=v.height,
            budget_bytes=budget_bytes, hub_receiving=self.hub_receiving, on_pending=on_pending,
            target_s=segment_s, pool=self._writer_pool)
        await self.recorder.start()
        return self.recorder

    async def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            await asyncio.wait_for(recorder.stop(), 60)

    @staticmethod
    def open_store(root: Path) -> SegmentStore:
        """Blocking (call in a thread): the local segment store, leftovers cleaned."""
        store = SegmentStore(root)
        store.open()
        return store

    def health(self) -> dict[str, Any]:
        stats = self.feed.stats() if self.feed.running else {"fps": None, "kbps": None}
        out: dict[str, Any] = {"camera_fps": stats["fps"], "bitrate_kbps": stats["kbps"],
                               "video_mode": "passthrough" if self.passthrough else "encode"}
        if self.frames is not None and self.frames.health.state.value in ("live", "black"):
            out["capture_fps"] = self._capture_fps()
        for name, source in (("camera", self.frames or self.packets), ("microphone", self.audio)):
            if source is not None:
                h = source.health
                out[name] = {"state": str(h.state), "source": h.description, "error": h.last_error,
                             "reopens": h.reopens, "luma": None if h.luma is None else round(h.luma, 1)}
        if self.publisher is not None:
            st = self.publisher.status
            out["publisher"] = {"state": str(st.state), "error": st.last_error,
                                "token_rejected": st.token_rejected, "codec": st.codec,
                                "sessions": st.sessions, "retry_in_s": st.retry_in_s}
        else:
            out["publisher"] = {"state": "idle"}
        if self.analyzer is not None and self.analyzer.last is not None:
            out["headcount"] = self.analyzer.last_headcount
        if self.talkback is not None:
            out["speaker"] = self.talkback.health()
        out["recorder"] = self.recorder.status() if self.recorder is not None else {"state": "idle"}
        return out

    def _capture_fps(self) -> float | None:
        """Frames per second the camera delivered since the last call (not what we encode)."""
        assert self.frames is not None
        now, items = time.monotonic(), self.frames.health.items
        last, self._capture_mark = self._capture_mark, (now, items)
        if last is None or now - last[0] <= 0:
            return None
        return round((items - last[1]) / (now - last[0]), 1)
