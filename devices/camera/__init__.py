"""Camera and microphone capture for the edge agent, plus thumbnails and headcount.

Blocking capture runs in threads (backends.py, audio.py); source.py gives
it an async face with health states and reopen-with-backoff.
"""

from .analysis import FrameAnalysis, FrameAnalyzer, HeadCounter, make_thumbnail
from .audio import FileAudioBackend, MicrophoneBackend, ToneBackend, audio_backend_for
from .backends import (
    CaptureBackend,
    EncodedPacketBackend,
    MjpegHttpBackend,
    OpenCvBackend,
    PatternBackend,
    PyAvBackend,
    backend_for,
)
from .backoff import Backoff
from .errors import CaptureError
from .frames import AudioChunk, CapturedFrame
from .pattern import clock_text, render_pattern, tone_samples
from .source import CaptureSource, SourceHealth, SourceSettings, SourceState, Subscription

__all__ = [
    "AudioChunk", "Backoff", "CaptureBackend", "CaptureError", "CaptureSource", "CapturedFrame",
    "EncodedPacketBackend", "FileAudioBackend", "FrameAnalysis", "FrameAnalyzer", "HeadCounter",
    "MicrophoneBackend", "MjpegHttpBackend", "OpenCvBackend", "PatternBackend", "PyAvBackend",
    "SourceHealth", "SourceSettings", "SourceState", "Subscription", "ToneBackend",
    "audio_backend_for", "backend_for", "clock_text", "make_thumbnail", "render_pattern",
    "tone_samples",
]
