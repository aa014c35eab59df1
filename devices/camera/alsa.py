"""The hall PC's sound devices as PyAV sees them: ALSA, and PulseAudio through ALSA's pulse plugin.

PyAV's wheels bundle an alsa-lib built with its configuration and plugins
under a build-time prefix that does not exist on the hall PC, so out of the
box it knows neither "default" nor "pulse". `alsa_environment()` points it
at the system's files (Debian: /usr/share/alsa, and the plugins of
libasound2-plugins, which route ALSA's "default" to PulseAudio when a server
runs). Settings name devices as:

    default            the system's default device (PulseAudio's when it runs)
    pulse:<name>       a PulseAudio source or sink (`pactl list short sources`)
    alsa:<device>      an ALSA device, e.g. alsa:hw:1,0 or alsa:plughw:1,0

`list_devices()` is what `branchlive edge --list-devices` prints.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CONFIG_DIRS = ("/usr/share/alsa",)
_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib",
                "/usr/lib/arm-linux-gnueabihf/alsa-lib", "/usr/lib64/alsa-lib", "/usr/lib/alsa-lib")


def alsa_environment() -> None:
    """Point alsa-lib (PyAV's bundled copy) at the system's configuration and plugins.

    Process-wide and idempotent; variables already set by the operator win.
    """
    for config_dir in _CONFIG_DIRS:
        if os.path.isfile(os.path.join(config_dir, "alsa.conf")):
            os.environ.setdefault("ALSA_CONFIG_DIR", config_dir)
            os.environ.setdefault("ALSA_CONFIG_PATH", os.path.join(config_dir, "alsa.conf"))
            break
    for plugin_dir in _PLUGIN_DIRS:
        if os.path.isdir(plugin_dir):
            os.environ.setdefault("ALSA_PLUGIN_DIR", plugin_dir)
            break


def alsa_device(spec: str) -> str:
    """The ALSA device name for a setting: "default", "pulse:<name>" or "alsa:<device>"."""
    if spec == "default":
        return "default"
    if spec.startswith("pulse:"):
        name = spec.partition(":")[2]
        return f"pulse:{name}" if name else "pulse"
    if spec.startswith("alsa:"):
        device = spec.partition(":")[2]
        if not device:
            raise ValueError("alsa: needs a device name, e.g. alsa:hw:1,0")
        return device
    raise ValueError(f"sound device {spec!r} is not default, pulse:<name> or alsa:<device>")


def is_sound_device(spec: str) -> bool:
    return spec == "default" or spec.startswith(("pulse:", "alsa:"))


@dataclass(frozen=True, slots=True)
class Device:
    kind: str  # "camera" | "input" | "output"
    setting: str  # what to put in the edge settings
    description: str


def _alsa_pcms() -> list[Device]:
    """Hardware PCMs from /proc/asound/pcm ("00-00: name : name : playback 1 : capture 1")."""
    found: list[Device] = []
    try:
        lines = Path("/proc/asound/pcm").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        ident, _, rest = line.partition(":")
        card, _, dev = ident.strip().partition("-")
        if not (card.isdigit() and dev.isdigit()):
            continue
        parts = [p.strip() for p in rest.split(":")]
        name = parts[0] if parts else ""
        setting = f"alsa:plughw:{int(card)},{int(dev)}"
        if any(p.startswith("capture") for p in parts):
            found.append(Device("input", setting, f"ALSA card {int(card)} device {int(dev)}: {name}"))
        if any(p.startswith("playback") for p in parts):
            found.append(Device("output", setting, f"ALSA card {int(card)} device {int(dev)}: {name}"))
    return found


def _pulse(kind: str) -> list[Device]:
    """PulseAudio sources or sinks through pactl (pulseaudio-utils), if a server answers."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return []
    what = "sources" if kind == "input" else "sinks"
    try:
        out = subprocess.run([pactl, "list", "short", what], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    devices = []
    for line in out.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            note = " (what a sink plays: not a microphone)" if fields[1].endswith(".monitor") else ""
            devices.append(Device(kind, f"pulse:{fields[1]}", f"PulseAudio {fields[1]}{note}"))
    return devices


def _cameras() -> list[Device]:
    devices = []
    for path in sorted(glob.glob("/dev/video*")):
        index = path.removeprefix("/dev/video")
        try:
            name = Path(f"/sys/class/video4linux/video{index}/name").read_text().strip()
        except OSError:
            name = "video device"
        devices.append(Device("camera", path, name))
    return devices


def list_devices() -> list[Device]:
    """Cameras, microphones and speakers present on this PC (blocking: runs pactl)."""
    devices = _cameras()
    devices.append(Device("input", "default", "the system's default microphone"))
    devices += [d for d in _pulse("input")] + [d for d in _alsa_pcms() if d.kind == "input"]
    devices.append(Device("output", "default", "the system's default speaker"))
    devices += _pulse("output") + [d for d in _alsa_pcms() if d.kind == "output"]
    return devices


def format_devices(devices: list[Device]) -> str:
    titles = {"camera": "Cameras (camera_source)", "input": "Microphones (audio_input)",
              "output": "Speakers (audio_output)"}
    lines: list[str] = []
    for kind, title in titles.items():
        lines.append(title + ":")
        rows = [d for d in devices if d.kind == kind]
        if not rows:
            lines.append("  (none found)")
        width = max((len(d.setting) for d in rows), default=0)
        lines += [f"  {d.setting.ljust(width)}  {d.description}" for d in rows]
    lines.append("Also: camera_source = pattern, rtsp://..., http://... (MJPEG); "
                 "audio_input = camera (the rtsp:// camera's sound), tone, none.")
    return "\n".join(lines)
