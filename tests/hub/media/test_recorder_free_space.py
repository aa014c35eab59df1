"""The recorder's free-space probe on a branch's first meeting (no directory yet)."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.media.recorder import free_bytes_at


def test_free_space_of_a_directory_that_does_not_exist_yet(tmp_path: Path) -> None:
    missing = tmp_path / "recordings" / "7" / "meeting-uuid"
    assert free_bytes_at(missing) > 0
    assert abs(free_bytes_at(missing) - shutil.disk_usage(tmp_path).free) < 64 * 2**20
