"""The export worker: run as its own process (`python -m hub.recordings.exporter`)
so that a muxer or demuxer crash (FFmpeg has SIGFPE'd on unusual segment
sets) kills only this process, never the hub. Reads one JSON job on stdin:

    {"parts": [[path, start_seconds, duration], ...], "container": "mp4",
     "out": path, "max_bytes": n, "max_seconds": n}

and remuxes (never re-encodes video) the parts into `out`: one video track
and one Opus audio track, each part shifted to its real start time relative
to the first, so gaps stay gaps. A part without audio gets Opus silence, so
the file always carries both tracks. Parts that cannot be read are skipped
and listed. Exit 0 with a JSON report on stdout; exit 3 with a reason on
stderr when no playable video was found, 4 past the size limit. Limits are set on itself first
(file size, CPU time, address space): past them the kernel stops it.
"""

from __future__ import annotations

import errno
import json
import resource
import sys
from fractions import Fraction
from typing import Any

AUDIO_TB = Fraction(1, 48_000)
OPUS_SILENCE_120MS = b"\xff\x06" + b"\xff\xfe" * 6  # 120 ms of stereo silence (hub/recordings/files.py)
MAX_SPAN_S = 2 * 86_400  # a meeting longer than two days is a wrong timestamp


def _limit(max_bytes: int, max_seconds: float) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    cpu = int(max_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    space = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (space, space))


def _opus_head() -> bytes:
    import struct

    return b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48_000, 0, 0)


def _templates(parts: list[tuple[str, float, float]]) -> tuple[Any, Any]:
    """The first readable video stream and the first audio stream of the parts
    (opened from their files; the caller keeps the containers open)."""
    import av

    video = audio = None
    for path, _, _ in parts:
        if video is not None and audio is not None:
            break
        try:
            src = av.open(path)
        except (av.FFmpegError, OSError, ValueError):
            continue
        keep = False
        if video is None and src.streams.video and src.streams.video[0].codec_context.name in ("h264", "vp8"):
            video, keep = src.streams.video[0], True
        if audio is None and src.streams.audio and src.streams.audio[0].codec_context.name == "opus":
            audio, keep = src.streams.audio[0], True
        if not keep:
            src.close()
    return video, audio


def remux(parts: list[tuple[str, float, float]], container: str, out_path: str) -> dict[str, Any]:
    import av

    t0 = parts[0][1]
    skipped: list[str] = []
    video_tpl, audio_tpl = _templates(parts)
    if video_tpl is None:
        raise ValueError("没有可播放的视频片段。No segment of this meeting holds playable video.")
    codec = video_tpl.codec_context.name
    options = {"movflags": "+faststart"} if container == "mp4" else {}
    out = av.open(out_path, "w", format=container, options=options)
    # every stream exists before the first packet: adding one later is what crashed muxers
    video: Any = out.add_stream_from_template(video_tpl)
    if audio_tpl is not None:
        audio: Any = out.add_stream_from_template(audio_tpl)
    else:
        audio = out.add_stream("opus", rate=48_000)
        audio.codec_context.extradata = _opus_head()
    audio.time_base = AUDIO_TB
    last = {"video": -(1 << 62), "audio": -(1 << 62)}
    written = {"video": 0, "audio": 0}
    end_s = 0.0

    def mux(packet: Any, stream: Any, pts: int, tb: Fraction, kind: str) -> None:
        if pts <= last[kind]:
            return  # overlapping or reordered: keep the earlier packet
        last[kind] = pts
        packet.stream = stream
        packet.time_base = tb
        packet.pts = packet.dts = pts
        out.mux(packet)
        written[kind] += 1

    try:
        for path, start, duration in parts:
            offset = start - t0
            if not 0 <= offset <= MAX_SPAN_S:
                skipped.append(f"{path}: start time outside the meeting")
                continue
            try:
                with av.open(path) as src:
                    if not src.streams.video or src.streams.video[0].codec_context.name != codec:
                        skipped.append(f"{path}: no {codec} video")
                        continue
                    has_audio = bool(src.streams.audio) and src.streams.audio[0].codec_context.name == "opus"
                    streams = [src.streams.video[0]] + ([src.streams.audio[0]] if has_audio else [])
                    seen_key = False
                    for packet in src.demux(*streams):
                        if packet.is_corrupt:
                            skipped.append(f"{path}: truncated")
                            break  # a cut-off file: keep what came before
                        if packet.pts is None or packet.time_base is None or packet.size == 0:
                            continue
                        tb = packet.time_base
                        if packet.stream.type == "video":
                            if not seen_key and not packet.is_keyframe:
                                continue  # a decoder cannot start here
                            seen_key = True
                            end_s = max(end_s, offset + float((packet.pts + (packet.duration or 0)) * tb))
                            mux(packet, video, packet.pts + round(offset / tb), tb, "video")
                        else:
                            mux(packet, audio, packet.pts + round(offset / tb), tb, "audio")
                    if not has_audio:  # silence over this part, so the audio track has no hole
                        first = round(offset * 48_000)
                        for i in range(int(duration * 48_000) // 5760):
                            mux(av.Packet(OPUS_SILENCE_120MS), audio, first + i * 5760, AUDIO_TB, "audio")
            except (av.FFmpegError, OSError, ValueError) as exc:
                skipped.append(f"{path}: {exc}")
    finally:
        out.close()
    if not written["video"]:
        raise ValueError("没有可播放的视频片段。No segment of this meeting holds playable video.")
    return {"video_packets": written["video"], "audio_packets": written["audio"],
            "seconds": round(end_s, 3), "skipped": skipped}


def main() -> int:
    job = json.loads(sys.stdin.read())
    _limit(int(job["max_bytes"]), float(job["max_seconds"]))
    parts = [(str(p), float(s), float(d)) for p, s, d in job["parts"]]
    if not parts:
        print("没有片段可导出。This meeting has no segment to export.", file=sys.stderr)
        return 3
    try:
        report = remux(parts, job["container"], job["out"])
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except OSError as exc:  # Python ignores SIGXFSZ: past RLIMIT_FSIZE a write fails with EFBIG
        if exc.errno == errno.EFBIG or "File too large" in str(exc):
            print("the export reached its size limit", file=sys.stderr)
            return 4
        raise
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
