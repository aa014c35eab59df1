"""Emulated IP camera (MJPEG over HTTP, H.264 over RTSP) for tests and demos."""

from .emulator import CameraEmulator, EmulatorSettings

__all__ = ["CameraEmulator", "EmulatorSettings"]
