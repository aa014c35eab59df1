"""Segment files of the recordings domain: the format, writing, verifying and
moving them (blocking work: call from threads, never on the event loop).

A segment is written under `<name>.part`, then closed, fsynced, renamed to
its final name and its directory fsynced: a hub killed at any moment leaves
either a complete segment or a `.part` file that start-up discards, so at
most the segment being written is lost. H.264 goes into fragmented MP4
(HLS-playable, one init section then one fragment); VP8, which MP4 muxers
do not take, into WebM. Opus audio rides along in both.
"""

from __future__ import annotations

import errno
import fractions
import io
import os
import shutil
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import av

VIDEO_TB = fractions.Fraction(1, 90_000)
AUDIO_TB = fractions.Fraction(1, 48_000)
CONTAINERS = {"h264": "mp4", "vp8": "webm"}
PART_SUFFIX = ".part"
# Opus silence (CELT, fullband, stereo, RFC 6716 3.1-3.2): one 20 ms frame (TOC
# 0xFC), and six of them in one code-3 packet (TOC 0xFF, 6 frames): 120 ms
OPUS_SILENCE = b"\xfc\xff\xfe"
OPUS_SILENCE_120MS = b"\xff\x06" + b"\xff\xfe" * 6
SILENCE_LAG = 24_000  # audio this far (48 kHz samples) behind video: the hall sends none
# Consecutive 20 ms Opus packets are stored six to a packet (120 ms, the most
# one packet may hold: RFC 6716 3.2.5 code 3, as OPUS_SILENCE_120MS): a sixth of
# the muxer calls for three quarters of the packets a hall sends (each call into
# the muxer was the largest cost per packet of a recording hub), same audio.
OPUS_FRAMES_PER_PACKET = 6
# samples (48 kHz) of one frame, by TOC configuration (RFC 6716 3.1, table 2)
OPUS_FRAME_SAMPLES = {c: (480, 960, 1920, 2880)[c % 4] for c in range(12)} | \
    {c: (480, 960)[c % 2] for c in range(12, 16)} | {c: (120, 240, 480, 960)[c % 4] for c in range(16, 32)}


def opus_merge(frames: list[bytes]) -> bytes:
    """One code-3 (VBR) Opus packet carrying the frames of single-frame (code 0)
    packets that share one TOC byte (RFC 6716 3.2.5; lengths as in 3.2.1)."""
    toc = frames[0][0]
    out = bytearray((toc | 3, 0x80 | len(frames)))
    for frame in frames[:-1]:
        n = len(frame) - 1
        if n < 252:
            out.append(n)
        else:
            first = 252 + ((n - 252) & 3)
            out += bytes((first, (n - first) >> 2))
    for frame in frames:
        out += frame[1:]
    return bytes(out)

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


def opus_head(channels: int = 2, pre_skip: int = 312, rate: int = 48000) -> bytes:
    """The OpusHead header (RFC 7845 5.1) MP4/Matroska muxers want as extradata."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, rate, 0, 0)


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


def move_file(src: Path, final: Path) -> None:
    """Move a finished file into place durably, also across filesystems
    (`recordings/` on its own disk): rename where it can, else copy into a
    temporary name next to `final`, fsync, rename, fsync, then drop `src`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(src, "rb") as f:
            os.fsync(f.fileno())
        os.replace(src, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = final.with_name(final.name + PART_SUFFIX)
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        src.unlink(missing_ok=True)
        fsync_dir(src.parent)
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


_templates: dict[str, tuple[av.container.OutputContainer, dict[str, av.stream.Stream]]] = {}
_templates_lock = threading.Lock()


def _template_stream(container: str, codec: str) -> av.stream.Stream:
    """A stream of `codec` in a never-written `container` of this process, to
    create segment streams from. A stream made with `add_stream` gets an
    *encoder* that PyAV opens when the file header is written: for H.264 a
    libx264 instance with its lookahead buffers and ~4 threads per segment
    being written (measured: 1.2 MB RSS per open segment and a thread start
    per segment) for packets that are only copied. Streams made from a
    template keep the codec parameters and are never opened."""
    with _templates_lock:
        entry = _templates.get(container)
        if entry is None:
            out = av.open(io.BytesIO(), "w", format=container)
            entry = _templates[container] = (out, {})
        out, streams = entry
        stream = streams.get(codec)
        if stream is None:
            stream = streams[codec] = out.add_stream(codec, rate=48_000 if codec == "opus" else 15)
        return stream


class SegmentWriter:
    """Stream-copies encoded packets into one segment file (no codec is
    opened: see `_template_stream`)."""

    def __init__(self, directory: Path, spec: SegmentSpec) -> None:
        self.spec = spec
        self.container_name = CONTAINERS[spec.video_codec]
        self.final = directory / segment_filename(spec.started_at, spec.segment_id, self.container_name)
        self.tmp = self.final.with_name(self.final.name + PART_SUFFIX)
        directory.mkdir(parents=True, exist_ok=True)
        options = {}
        if self.container_name == "mp4":
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
            # a fragment at least every second: the muxer holds a fragment's media in
            # memory until it is written (a whole 6 s segment, ~300 kB per hall, without
            # this), and a killed hub's partial file has all but the last second
            options["frag_duration"] = "1000000"
        self._out = av.open(str(self.tmp), "w", format=self.container_name, options=options)
        video = cast("av.VideoStream", self._out.add_stream_from_template(
            _template_stream(self.container_name, spec.video_codec)))
        video.width, video.height = spec.width, spec.height
        video.time_base = VIDEO_TB
        video.codec_context.framerate = fractions.Fraction(15)
        if spec.extradata:
            video.codec_context.extradata = spec.extradata
        self._video = video
        self._audio = None
        if spec.has_audio:
            audio = self._out.add_stream_from_template(_template_stream(self.container_name, "opus"))
            audio.time_base = AUDIO_TB
            audio.codec_context.extradata = opus_head()
            self._audio = audio
        self._video_end = 0
        self._video_last = -1
        self._audio_end = 0
        self._opus: list[bytes] = []  # 20 ms packets waiting to be stored together
        self._opus_pts = 0

    def write(self, packets: list[MediaPacket]) -> None:
        for kind, data, pts, key in packets:
            if not data:
                continue  # an empty frame is never written (decoders refuse the file)
            if kind == "video":
                if pts <= self._video_last:
                    continue  # muxers refuse non-increasing timestamps
                stream, tb = self._video, VIDEO_TB
                step = pts - self._video_last if self._video_last >= 0 else 6000
                self._video_last = pts
                self._video_end = pts + step
                if self._audio is not None and pts * 48 // 90 - self._audio_end > SILENCE_LAG:
                    self._fill_silence(pts * 48 // 90 - SILENCE_LAG // 2)
            else:
                if self._audio is None or pts < 0:
                    continue
                if pts < self._audio_end:  # overlaps what is written (silence filled in, jitter)
                    if pts < self._audio_end - 480:
                        continue
                    pts = self._audio_end  # muxers refuse a repeated timestamp
                if not self._take_opus(data, pts):
                    self._mux(self._audio, data, pts, AUDIO_TB, True)
                self._audio_end = pts + 960
                continue
            self._mux(stream, data, pts, tb, key)

    def _take_opus(self, data: bytes, pts: int) -> bool:
        """Hold a 20 ms single-frame packet to store it with the next ones;
        False (after storing what is held) for a packet that cannot join."""
        held = self._opus
        joins = data[0] & 3 == 0 and len(data) <= 1276 and OPUS_FRAME_SAMPLES.get(data[0] >> 3) == 960
        if held and not (joins and data[0] == held[0][0] and pts == self._opus_pts + 960 * len(held)):
            self._flush_opus()
        if not joins:
            return False
        if not self._opus:
            self._opus_pts = pts
        held = self._opus
        held.append(data)
        if len(held) == OPUS_FRAMES_PER_PACKET:
            self._flush_opus()
        return True

    def _flush_opus(self) -> None:
        held, self._opus = self._opus, []
        if held:
            assert self._audio is not None
            self._mux(self._audio, held[0] if len(held) == 1 else opus_merge(held), self._opus_pts,
                      AUDIO_TB, True, duration=960 * len(held))

    def _mux(self, stream: av.stream.Stream, data: bytes, pts: int, tb: fractions.Fraction,
             key: bool, duration: int = 0) -> None:
        packet = av.Packet(data)
        packet.stream = stream
        packet.pts = packet.dts = pts
        packet.time_base = tb
        packet.is_keyframe = key
        if duration:
            packet.duration = duration
        self._out.mux(packet)

    def _fill_silence(self, until: int) -> None:
        """Opus silence up to `until` (48 kHz samples): every segment has the
        same tracks (video + audio) whether or not the hall sends sound, so
        segments from the hall and from the hub mix in one player and export."""
        assert self._audio is not None
        self._flush_opus()  # what is held comes first
        while self._audio_end + 5760 <= until:
            self._mux(self._audio, OPUS_SILENCE_120MS, self._audio_end, AUDIO_TB, True)
            self._audio_end += 5760
        while self._audio_end + 960 <= until:
            self._mux(self._audio, OPUS_SILENCE, self._audio_end, AUDIO_TB, True)
            self._audio_end += 960

    @property
    def duration(self) -> float:
        return max(self._video_end / 90_000, self._audio_end / 48_000)

    def finish(self, end_pts: int | None = None) -> FinishedSegment:
        """Close the file. `end_pts` (90 kHz): where the next segment starts, when it
        follows without a hole; frames lost just before it (under packet loss) then
        count as this segment's time, as frames lost inside it do."""
        if end_pts is not None and self._video_last >= 0 and end_pts > self._video_end:
            self._video_end = end_pts
        if self._audio is not None:
            self._fill_silence(self._video_end * 48 // 90)
            self._flush_opus()
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


def verify_written(path: Path) -> None:
    """Cheap check of a segment the hub muxed itself (its writer already
    refused empty and undecodable frames and starts at a keyframe): the file
    is whole. For fragmented MP4 the top-level boxes must be ftyp, moov and
    moof/mdat pairs ending exactly at the end of the file; WebM gets the full
    probe. Raises ValueError saying what is wrong."""
    if path.suffix != ".mp4":
        probe_segment(path)
        return
    size = path.stat().st_size
    kinds: list[bytes] = []
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                raise ValueError("the file ends inside a box header (truncated)")
            box, kind = struct.unpack(">I4s", header[:8])
            if box == 1:
                box = struct.unpack(">Q", header[8:16])[0]
            if box < 8 or offset + box > size:
                raise ValueError(f"box {kind!r} runs past the end of the file (truncated)")
            kinds.append(kind)
            offset += box
    if kinds[:2] != [b"ftyp", b"moov"] or b"moof" not in kinds or b"mdat" not in kinds:
        raise ValueError(f"not a fragmented MP4 segment (boxes {kinds[:6]})")


@dataclass(frozen=True)
class ProbedSegment:
    duration: float
    video_codec: str
    container: str
    init_size: int
    has_audio: bool = False


def probe_segment(path: Path, *, decode: bool = False) -> ProbedSegment:
    """Verify a finished segment file and measure it: every packet demuxes,
    no video packet is empty, the first video packet is a keyframe, and with
    `decode` that keyframe decodes to a picture. Raises ValueError saying
    why the file cannot be served."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            video = container.streams.video[0]
            codec = video.codec_context.name
            if codec not in CONTAINERS:
                raise ValueError(f"video codec {codec} cannot be served; send H.264 or VP8")
            has_audio = bool(container.streams.audio)
            end = 0.0
            start: float | None = None
            first = True
            for packet in container.demux(video):
                if packet.pts is None or packet.time_base is None:
                    continue
                if packet.size == 0:
                    raise ValueError("the file holds an empty video frame")
                if packet.is_corrupt:
                    raise ValueError("the file is truncated")
                if first:
                    first = False
                    if not packet.is_keyframe:
                        raise ValueError("the segment does not start with a keyframe")
                    if decode and not video.codec_context.decode(packet):
                        raise ValueError("the first keyframe does not decode to a picture")
                t = float(packet.pts * packet.time_base)
                start = t if start is None else min(start, t)
                end = max(end, t + float((packet.duration or 0) * packet.time_base))
            if first:
                raise ValueError("the file holds no video frame")
    except av.FFmpegError as exc:
        raise ValueError(f"the file is not a readable MP4/WebM segment ({exc})") from None
    kind = "mp4" if path.suffix == ".mp4" else "webm"
    init = mp4_init_size(path) if kind == "mp4" else 0
    return ProbedSegment(end - (start or 0.0), codec, kind, init, has_audio)
