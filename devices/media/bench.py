"""Edge CPU benchmark: what publishing costs the hall PC, per source type and size.

    run_edge_bench(args) -> list[dict]     (wired to `branchlive bench edge` elsewhere)

Each case publishes over WHIP for `duration_s` to a receiver in a child
process, with the camera emulator (MJPEG/RTSP cases) in another child, so
the CPU read from /proc/self/stat (all threads of this process) is the
agent's alone. Targets: RTSP pass-through <= 5 % of a core, 360p15 encode
<= 35 %.

Two cases are a whole hall's media as the agent runs it, with the agent's
defaults: a thumbnail every 10 s, people counted every 20 s, and sound:
- mic-encode: the test card encoded, plus a microphone captured through
  ALSA from a private PulseAudio server (its null sink's monitor, fed a
  tone by a child process) and encoded to Opus. Target at 360p15 <= 35 %.
- rtsp-passthrough-av: the emulator's H.264 passed through, one keyframe
  decoded per thumbnail, and the camera's AAC decoded and sent as Opus.
  Target <= 8 %.
The PulseAudio server's own CPU is reported apart (sound_server_pct).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import av
from pydantic import SecretStr

from devices.camera.analysis import FrameAnalyzer
from devices.camera.audio import audio_backend_for
from devices.camera.backends import EncodedPacketBackend, MjpegHttpBackend, PatternBackend
from devices.camera.source import CaptureSource

from .config import PublisherSettings
from .encoder import EncoderSettings, VideoEncoder
from .ice import restrict_host_addresses
from .keyframes import KeyframeGrabber
from .publisher import Publisher, PublisherState
from .tracks import EncodedVideoTrack, PassthroughVideoTrack, SourceAudioTrack

CASES = ("pattern-encode", "mjpeg-decode-encode", "rtsp-passthrough", "mic-encode", "rtsp-passthrough-av")
SIZES = {"360p": (640, 360), "720p": (1280, 720)}
TARGETS = {("rtsp-passthrough", "360p"): 5.0, ("rtsp-passthrough", "720p"): 5.0,
           ("pattern-encode", "360p"): 35.0, ("mic-encode", "360p"): 35.0,
           ("rtsp-passthrough-av", "360p"): 8.0, ("rtsp-passthrough-av", "720p"): 8.0}
THUMBNAIL_S = 10.0  # the agent's default (thumbnail_s)
HEADCOUNT_S = 20.0  # MediaSettings.headcount_interval_s


def process_cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (every thread), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            await asyncio.sleep(0.2)


class _PrivatePulse:
    """A PulseAudio server on a private socket with one null sink fed a tone by a child process."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-pulse-")
        self.server = f"unix:{self.dir}/native"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        if shutil.which("pulseaudio") is None:
            raise RuntimeError("mic-encode needs PulseAudio (Debian package pulseaudio)")
        env = {**os.environ, "HOME": self.dir, "XDG_RUNTIME_DIR": self.dir}
        self.procs.append(subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
             "--use-pid-file=no", "-L", f"module-native-protocol-unix socket={self.dir}/native auth-anonymous=1",
             "-L", "module-null-sink sink_name=bench_mic rate=48000"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while not os.path.exists(f"{self.dir}/native"):
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError("the benchmark's PulseAudio server did not start")
            time.sleep(0.1)
        os.environ["PULSE_SERVER"] = self.server
        self.procs.append(_spawn("import sys; from devices.media.bench import _tone_main; "
                                 "_tone_main(sys.argv[1], 700.0)", "pulse:bench_mic"))

    @property
    def pid(self) -> int:
        return self.procs[0].pid

    def stop(self) -> None:
        os.environ.pop("PULSE_SERVER", None)
        for proc in reversed(self.procs):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


async def _bench_case(case: str, size: str, fps: float, duration_s: float, bitrate: int) -> dict[str, Any]:
    width, height = SIZES[size]
    passthrough = case.startswith("rtsp-passthrough")
    whip_port, http_port, rtsp_port = _free_port(), _free_port(), _free_port()
    children = [_spawn("import sys; from devices.media.bench import _receiver_main; "
                       "_receiver_main(int(sys.argv[1]))", str(whip_port))]
    if case not in ("pattern-encode", "mic-encode"):
        children.append(_spawn(
            "import sys; from firmware_stubs.camera.cli import main; sys.exit(main(sys.argv[1:]))",
            "--http-port", str(http_port), "--rtsp-port", str(rtsp_port), "--size", f"{width}x{height}",
            "--fps", str(fps), *(["--audio", "aac"] if case == "rtsp-passthrough-av" else [])))
    pulse = _PrivatePulse() if case == "mic-encode" else None
    restrict_host_addresses(["127.0.0.1"])
    source: CaptureSource[Any]
    audio: CaptureSource[Any] | None = None
    grabber: KeyframeGrabber | None = None
    analyzer: FrameAnalyzer | None = None
    encoder = VideoEncoder(EncoderSettings(width=width, height=height, fps=fps, bitrate=bitrate))
    rtsp_url = f"rtsp://127.0.0.1:{rtsp_port}/stream"
    thumbnails: list[Any] = []
    try:
        await _wait_port(whip_port)
        if pulse is not None:
            await asyncio.to_thread(pulse.start)
        if case in ("pattern-encode", "mic-encode"):
            source = CaptureSource(lambda: PatternBackend(width, height, fps))
        elif case == "mjpeg-decode-encode":
            await _wait_port(http_port)
            source = CaptureSource(lambda: MjpegHttpBackend(f"http://127.0.0.1:{http_port}/video.mjpg"))
        else:
            await _wait_port(rtsp_port)
            source = CaptureSource(lambda: EncodedPacketBackend(rtsp_url))
        if case == "mic-encode":
            audio = CaptureSource(lambda: audio_backend_for("pulse:bench_mic.monitor"))  # type: ignore[arg-type,return-value]
            analyzer = FrameAnalyzer(lambda: source.latest, thumbnails.append, interval_s=THUMBNAIL_S,
                                     headcount_interval_s=HEADCOUNT_S)
        elif case == "rtsp-passthrough-av":
            audio = CaptureSource(lambda: audio_backend_for("camera", rtsp_url))  # type: ignore[arg-type,return-value]
            grabber = KeyframeGrabber(source, interval_s=THUMBNAIL_S / 2)
            keyframes = grabber
            analyzer = FrameAnalyzer(lambda: keyframes.latest, thumbnails.append, interval_s=THUMBNAIL_S,
                                     headcount_interval_s=HEADCOUNT_S)
        tracks: list[Any] = []

        def make_track() -> Any:
            track: Any = (PassthroughVideoTrack(source) if passthrough
                          else EncodedVideoTrack(source, encoder))
            tracks.append(track)
            return track

        audio_source = audio
        publisher = Publisher(
            PublisherSettings(whip_url=f"http://127.0.0.1:{whip_port}/whip/bench", token=SecretStr("bench")),
            video_track=make_track, video_codecs=("h264",),
            audio_track=(lambda: SourceAudioTrack(audio_source)) if audio_source is not None else None)
        for part in (source, audio, grabber, analyzer):
            if part is not None:
                await part.start()
        deadline = time.monotonic() + 30
        await publisher.start()
        while publisher.state != PublisherState.PUBLISHING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{case} {size}: never reached PUBLISHING ({publisher.status.last_error})")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # settle: first keyframes, encoder warm-up
        sent0 = tracks[-1].packets_sent
        audio0 = audio.health.items if audio is not None else 0
        thumbs0 = len(thumbnails)
        cpu0, wall0 = process_cpu_seconds(), time.monotonic()
        sound0 = process_cpu_seconds(pulse.pid) if pulse is not None else 0.0
        await asyncio.sleep(duration_s)
        cpu1, wall1 = process_cpu_seconds(), time.monotonic()
        sound1 = process_cpu_seconds(pulse.pid) if pulse is not None else 0.0
        sent = tracks[-1].packets_sent - sent0
        audio_chunks = (audio.health.items - audio0) if audio is not None else 0
        thumbs = len(thumbnails) - thumbs0
        await publisher.stop()
        for part in (analyzer, grabber, audio, source):
            if part is not None:
                await part.stop()
    finally:
        restrict_host_addresses(None)
        if pulse is not None:
            pulse.stop()
        for child in children:
            child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
            if child.poll() is None:
                child.kill()
    span = wall1 - wall0
    cpu_pct = 100.0 * (cpu1 - cpu0) / span
    target = TARGETS.get((case, size))
    row = {"case": case, "size": f"{width}x{height}", "fps": fps, "duration_s": round(span, 2),
           "cpu_pct_of_core": round(cpu_pct, 1), "frames_per_s": round(sent / span, 1),
           "audio_chunks_per_s": round(audio_chunks / span, 1) if audio is not None else None,
           "thumbnails": thumbs if analyzer is not None else None,
           "sound_server_pct": round(100.0 * (sound1 - sound0) / span, 1) if pulse is not None else None,
           "target_pct": target, "ok": None if target is None else cpu_pct <= target}
    return row


def _tone_main(device: str, frequency: float) -> None:
    """Child process: play a sine into an ALSA/PulseAudio device until killed."""
    import fractions

    import numpy as np

    from devices.camera.alsa import alsa_environment

    alsa_environment()
    out = av.open(device, "w", format="alsa")
    stream = out.add_stream("pcm_s16le", rate=48000, layout="mono")
    n = 0
    while True:
        t = (n + np.arange(960)) / 48000
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, n, fractions.Fraction(1, 48000)
        n += 960
        for packet in stream.encode(frame):
            out.mux(packet)


def run_edge_bench(args: argparse.Namespace | None = None) -> list[dict[str, Any]]:
    """Run every (case, size) pair; args may set cases, sizes, fps, duration_s, bitrate."""
    cases = list(getattr(args, "cases", None) or CASES)
    sizes = list(getattr(args, "sizes", None) or SIZES)
    fps = float(getattr(args, "fps", None) or 15.0)
    duration = float(getattr(args, "duration_s", None) or 10.0)
    bitrate = int(getattr(args, "bitrate", None) or 600_000)

    async def run_all() -> list[dict[str, Any]]:
        return [await _bench_case(c, s, fps, duration, bitrate) for c in cases for s in sizes]

    return asyncio.run(run_all())


# ---- receiver child process -------------------------------------------------
def _receiver_main(port: int) -> None:
    """A bare WHIP answerer that receives and discards (runs in its own process)."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaBlackhole

    restrict_host_addresses(["127.0.0.1"])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                method = head.split(" ", 1)[0]
                length = 0
                for line in head.split("\r\n")[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":")[1])
                body = (await reader.readexactly(length)).decode()
                if method == "POST":
                    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                    hole = MediaBlackhole()
                    pc.on("track", hole.addTrack)
                    await pc.setRemoteDescription(RTCSessionDescription(body, "offer"))
                    await pc.setLocalDescription(await pc.createAnswer())
                    await hole.start()
                    answer = pc.localDescription.sdp.encode()
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/sdp\r\n"
                                 b"Location: /whip/bench/1\r\n" + f"Content-Length: {len(answer)}\r\n\r\n"
                                 .encode() + answer)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge bench")
    parser.add_argument("--cases", nargs="*", choices=CASES)
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES))
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--bitrate", type=int, default=600_000)
    for row in run_edge_bench(parser.parse_args(argv)):
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
