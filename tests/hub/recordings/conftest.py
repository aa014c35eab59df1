from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub.media.peers import Clip, make_clip


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return make_clip(tmp_path_factory.mktemp("clip-h264"), "h264")


@pytest.fixture
def edge_dir(tmp_path: Path) -> Path:
    d = tmp_path / "edge"
    d.mkdir()
    return d
