"""Segment files on disk: blocking work, called from writer threads only.

A segment is written under `<name>.part`, then closed, fsynced, renamed to
its final name and its directory fsynced: a hub killed at any moment leaves
either a complete segment or a `.part` file that start-up discards, so at
most the segment being written is lost. H.264 goes into fragmented MP4
(HLS-playable, one init section then one fragment); VP8, which MP4 muxers
do not take, into WebM. Opus audio rides along in both.
"""

from __future__ import annotations

import fractions
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import av

from hub.media.bitstream import opus_head

VIDEO_TB = fractions.Fraction(1, 90_000)
AUDIO_TB = fractions.Fraction(1, 48_000)
CONTAINERS = {"h264": "mp4", "vp8": "webm"}
PART_SUFFIX = ".part"

# (kind, data, pts in the kind's clock relative to the segment start, keyframe)
MediaPacket = tuple[str, bytes, int, bool]


@dataclass(frozen=True)
class SegmentSpec:
    segment_id: str
    branch_id: int
    meeting_id: str
    started_at: datetime
    video_codec: str
    width: int
    height: int
    extradata: bytes
    has_audio: bool


@dataclass(frozen=True)
class FinishedSegment:
    spec: SegmentSpec
    path: Path
    size: int
    init_size: int
    duration: float


def segment_filename(started_at: datetime, segment_id: str, container: str) -> str:
    return f"{int(started_at.timestamp() * 1000)}-{segment_id}.{container}"


def parse_segment_filename(name: str) -> tuple[datetime, str, str]:
    """(started_at, segment_id, container) from a final segment file name."""
    stem, _, container = name.rpartition(".")
    start_ms, _, segment_id = stem.partition("-")
    if not start_ms.isdigit() or not segment_id or container not in ("mp4", "webm"):
        raise ValueError(f"not a segment file name: {name!r}")
    return datetime.fromtimestamp(int(start_ms) / 1000, UTC), segment_id, container


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(tmp: Path, final: Path) -> None:
    """fsync `tmp`, rename it to `final`, fsync the directory."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def mp4_init_size(path: Path) -> int:
    """Byte offset of the first `moof` box: the init section (ftyp+moov) before it."""
    with open(path, "rb") as f:
        offset = 0
        while True:
            header = f.read(8)
            if len(header) < 8:
                raise ValueError(f"{path.name}: no moof box (not a fragmented MP4)")
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moof":
                return offset
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            elif size < 8:
                raise ValueError(f"{path.name}: invalid MP4 box size {size}")
            offset += size
            f.seek(offset)


class SegmentWriter:
    """Stream-copies encoded packets into one segment file."""

    def __init__(self, directory: Path, spec: SegmentSpec) -> None:
        self.spec = spec
        self.container_name = CONTAINERS[spec.video_codec]
        self.final = directory / segment_filename(spec.started_at, spec.segment_id, self.container_name)
        self.tmp = self.final.with_name(self.final.name + PART_SUFFIX)
        directory.mkdir(parents=True, exist_ok=True)
        options = {}
        if self.container_name == "mp4":
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        self._out = av.open(str(self.tmp), "w", format=self.container_name, options=options)
        video = cast("av.VideoStream", self._out.add_stream(spec.video_codec, rate=15))
        video.width, video.height = spec.width, spec.height
        video.time_base = VIDEO_TB
        if spec.extradata:
            video.codec_context.extradata = spec.extradata
        self._video = video
        self._audio = None
        if spec.has_audio:
            audio = self._out.add_stream("opus", rate=48_000)
            audio.time_base = AUDIO_TB
            audio.codec_context.extradata = opus_head()
            self._audio = audio
        self._video_end = 0
        self._video_last = -1
        self._audio_end = 0

    def write(self, packets: list[MediaPacket]) -> None:
        for kind, data, pts, key in packets:
            if kind == "video":
                if pts <= self._video_last:
                    continue  # muxers refuse non-increasing timestamps
                stream, tb = self._video, VIDEO_TB
                step = pts - self._video_last if self._video_last >= 0 else 6000
                self._video_last = pts
                self._video_end = pts + step
            else:
                if self._audio is None or pts < 0 or pts < self._audio_end - 960:
                    continue
                stream, tb = self._audio, AUDIO_TB  # type: ignore[assignment]
                self._audio_end = pts + 960
            packet = av.Packet(data)
            packet.stream = stream
            packet.pts = packet.dts = pts
            packet.time_base = tb
            packet.is_keyframe = key
            self._out.mux(packet)

    @property
    def duration(self) -> float:
        return max(self._video_end / 90_000, self._audio_end / 48_000)

    def finish(self) -> FinishedSegment:
        self._out.close()
        commit_file(self.tmp, self.final)
        init_size = mp4_init_size(self.final) if self.container_name == "mp4" else 0
        return FinishedSegment(
            spec=self.spec,
            path=self.final,
            size=self.final.stat().st_size,
            init_size=init_size,
            duration=self.duration,
        )

    def abort(self) -> None:
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away
            pass
        self.tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class ProbedSegment:
    duration: float
    video_codec: str
    container: str
    init_size: int


def probe_segment(path: Path) -> ProbedSegment:
    """Duration and codec of a finished segment file (demux only, no decoding).
    Raises ValueError when the file is not a segment the hub can serve."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            video = container.streams.video[0]
            codec = video.codec_context.name
            end = 0.0
            start: float | None = None
            for packet in container.demux(video):
                if packet.pts is None or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                start = t if start is None else min(start, t)
                end = max(end, t + float((packet.duration or 0) * packet.time_base))
    except av.FFmpegError as exc:
        raise ValueError(f"the file is not a readable MP4/WebM segment ({exc})") from None
    kind = "mp4" if path.suffix == ".mp4" else "webm"
    if codec not in CONTAINERS:
        raise ValueError(f"video codec {codec} cannot be served; send H.264 or VP8")
    init = mp4_init_size(path) if kind == "mp4" else 0
    return ProbedSegment(end - (start or 0.0), codec, kind, init)
