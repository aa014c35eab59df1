"""Helpers for the real-hall tests: a private PulseAudio server with null sinks,
a tone played into one, and a listener that measures what a device plays."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from devices.camera.alsa import alsa_environment

RATE = 48000


class PulseServer:
    """`pulseaudio` on a private socket with two null sinks: what the hall's
    microphone hears (`hall_mic`, its monitor is the agent's microphone) and
    the hall's speaker (`hall_speaker`, its monitor is what the room hears)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = f"unix:{root}/native"
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("pulseaudio") is not None and shutil.which("pactl") is not None

    def start(self, timeout: float = 30) -> PulseServer:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HOME": str(self.root), "XDG_RUNTIME_DIR": str(self.root)}
        log = open(self.root / "pulse.log", "wb")  # noqa: SIM115 - kept for the child's lifetime
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
             "--use-pid-file=no", "--log-target=stderr",
             "-L", f"module-native-protocol-unix socket={self.root}/native auth-anonymous=1",
             "-L", "module-null-sink sink_name=hall_mic rate=48000",
             "-L", "module-null-sink sink_name=hall_speaker rate=48000"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while subprocess.run(["pactl", "-s", self.server, "info"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start: "
                                   + (self.root / "pulse.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def sine(frequency: float, samples: int, start: int = 0, amplitude: float = 0.3) -> np.ndarray:
    t = (start + np.arange(samples)) / RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


class TonePlayer:
    """Plays a sine into an ALSA/PulseAudio device from a thread until stopped."""

    def __init__(self, device: str, frequency: float) -> None:
        self.device, self.frequency = device, frequency
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tone", daemon=True)
        self.error: Exception | None = None

    def __enter__(self) -> TonePlayer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        alsa_environment()
        try:
            out = av.open(self.device, "w", format="alsa")
            stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
            n = 0
            while not self._stop.is_set():  # the device blocks at real-time pace
                frame = av.AudioFrame.from_ndarray(sine(self.frequency, 960, n).reshape(1, -1),
                                                   format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = RATE, n, Fraction(1, RATE)
                n += 960
                for packet in stream.encode(frame):
                    out.mux(packet)
            out.close()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def listen(device: str, seconds: float = 1.0) -> np.ndarray:
    """Record `seconds` of mono 48 kHz from an ALSA/PulseAudio capture device."""
    alsa_environment()
    container = av.open(device, format="alsa", options={"sample_rate": str(RATE), "channels": "1"})
    try:
        chunks: list[np.ndarray] = []
        got = 0
        for frame in container.decode(container.streams.audio[0]):
            pcm = frame.to_ndarray().reshape(-1)
            chunks.append(pcm)
            got += pcm.size
            if got >= seconds * RATE:
                break
        return np.concatenate(chunks).astype(np.float64)
    finally:
        container.close()


def peak(samples: np.ndarray) -> tuple[float, float]:
    """(frequency of the strongest component in Hz, RMS in full-scale units 0..1)."""
    if samples.size == 0:
        return 0.0, 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    spectrum[:5] = 0  # DC
    hz = float(np.argmax(spectrum)) * RATE / samples.size
    return hz, float(np.sqrt(np.mean(samples * samples))) / 32768.0


def write_wav(path: Path, frequency: float, seconds: float = 4.0) -> Path:
    """A mono 48 kHz WAV of a sine (Chromium's fake microphone loops it)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(sine(frequency, int(seconds * RATE)).tobytes())
    return path
