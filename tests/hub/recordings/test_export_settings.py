"""Export limits are settings (BRANCHLIVE_MEDIA__EXPORT_*), not constants."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import Settings
from hub.recordings.service import RecordingService


def test_export_limits_come_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHLIVE_MEDIA__EXPORT_MAX_BYTES", "4096")
    monkeypatch.setenv("BRANCHLIVE_MEDIA__EXPORT_TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("BRANCHLIVE_MEDIA__EXPORT_CONCURRENCY", "3")
    monkeypatch.setenv("BRANCHLIVE_MEDIA__EXPORT_QUEUE_SECONDS", "0")
    settings = Settings(data_dir=tmp_path)
    service = RecordingService(settings.media, tmp_path, session_factory=None)  # type: ignore[arg-type]
    limits = service.exporter.limits
    assert (limits.max_bytes, limits.timeout_seconds, limits.concurrency, limits.queue_seconds) == \
        (4096, 12.5, 3, 0.0)
    monkeypatch.delenv("BRANCHLIVE_MEDIA__EXPORT_MAX_BYTES")
    service = RecordingService(Settings().media, tmp_path, session_factory=None)  # type: ignore[arg-type]
    assert service.exporter.limits.max_bytes == 8 * 1024**3  # the default


def test_bad_export_limits_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHLIVE_MEDIA__EXPORT_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="export_concurrency"):
        Settings()
