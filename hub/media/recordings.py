"""Recorded meetings as the API serves them: listing, HLS, segment files,
export, flagging and backfill uploads. Database and disk work runs in
threads (`asyncio.to_thread`), never on the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.db import session_scope
from hub.media import store
from hub.media.auth import MediaViewer
from hub.media.errors import MediaAuthError, NotFound, UnsupportedMedia
from hub.media.export import stream_export
from hub.media.playlist import PlaylistSegment, build_playlist, find_gaps
from hub.media.upload import parse_upload_headers, staged_offset, store_chunk

if TYPE_CHECKING:
    from hub.media.models import RecordedSegment
    from hub.media.plane import MediaPlane


class Recordings:
    def __init__(self, plane: MediaPlane) -> None:
        self.plane = plane

    def _segments(self, meeting_id: str) -> tuple[int | None, list[RecordedSegment]]:
        with session_scope(self.plane.session_factory) as s:
            return (store.meeting_branch(s, meeting_id=meeting_id),
                    store.list_segments(s, meeting_id=meeting_id))

    async def _authorised(self, who: MediaViewer, meeting_id: str) -> tuple[str, list[RecordedSegment]]:
        # `who` is already signed in (the route's dependency answered 401 otherwise).
        branch_id, segments = await asyncio.to_thread(self._segments, meeting_id)
        if branch_id is None:
            raise NotFound(f"meeting {meeting_id} has no recording; check the meeting id")
        await self.plane.auth.may_view(who, branch_id)
        return who.user, segments

    async def describe(self, who: MediaViewer, meeting_id: str) -> dict[str, Any]:
        _, segments = await self._authorised(who, meeting_id)
        views = [_view(s) for s in segments]
        return {
            "meeting_id": meeting_id,
            "segments": [
                {"id": s.id, "started_at": s.started_at.isoformat(), "duration": s.duration,
                 "size": s.size, "container": s.container, "video_codec": s.video_codec,
                 "source": s.source}
                for s in segments
            ],
            "gaps": [{"started_at": t.isoformat(), "seconds": round(d, 3)} for t, d in find_gaps(views)],
        }

    async def playlist(self, who: MediaViewer, meeting_id: str) -> str:
        _, segments = await self._authorised(who, meeting_id)
        mp4 = [s for s in segments if s.container == "mp4"]
        if not mp4:
            if segments:
                raise UnsupportedMedia("this meeting was recorded in VP8 (WebM), which HLS cannot "
                                       "carry; download export.webm instead")
            raise NotFound(f"meeting {meeting_id} has no finished segment yet; retry in a few seconds")
        return build_playlist([_view(s) for s in mp4])

    async def segment_path(self, who: MediaViewer, meeting_id: str, segment_id: str) -> tuple[Path, str]:
        _, segments = await self._authorised(who, meeting_id)
        for seg in segments:
            if seg.id == segment_id:
                return self.plane.data_dir / seg.path, seg.container
        raise NotFound(f"meeting {meeting_id} has no segment {segment_id}")

    async def export(self, who: MediaViewer, meeting_id: str, ext: str) -> AsyncIterator[bytes]:
        user, segments = await self._authorised(who, meeting_id)
        parts = [(self.plane.data_dir / s.path, s.started_at) for s in segments if s.container == ext]
        if not parts:
            other = "webm" if ext == "mp4" else "mp4"
            raise UnsupportedMedia(f"this meeting has no {ext} segments; download export.{other}")
        await self.plane.auth.audit(user, "media.export", segments[0].branch_id, meeting_id)
        return stream_export(parts, ext)

    async def set_flagged(self, who: MediaViewer, meeting_id: str, flagged: bool) -> None:
        user, segments = await self._authorised(who, meeting_id)

        def update() -> bool:
            with session_scope(self.plane.session_factory) as s:
                return store.set_flagged(s, meeting_id=meeting_id, flagged=flagged)

        if not await asyncio.to_thread(update):
            raise NotFound(f"meeting {meeting_id} has no recording")
        branch_id = segments[0].branch_id if segments else 0
        await self.plane.auth.audit(user, "media.flag" if flagged else "media.unflag", branch_id, meeting_id)

    async def _device(self, token: str, branch_id: int) -> None:
        device = await self.plane.auth.device_for_token(token)
        if device is None:
            raise MediaAuthError(401, "unknown device token; re-enrol the edge device")
        if device[1] != branch_id:
            raise MediaAuthError(403, f"this device belongs to branch {device[1]}")

    async def upload(self, branch_id: int, segment_id: str, token: str,
                     headers: dict[str, str], body: bytes) -> tuple[str, int]:
        await self._device(token, branch_id)
        meta = parse_upload_headers(segment_id, headers, len(body), self.plane.settings.max_upload_bytes)
        return await asyncio.to_thread(store_chunk, self.plane.data_dir, self.plane.session_factory,
                                       branch_id, meta, body)

    async def upload_offset(self, branch_id: int, segment_id: str, token: str) -> tuple[int, bool]:
        await self._device(token, branch_id)

        def look() -> tuple[int, bool]:
            with session_scope(self.plane.session_factory) as s:
                seg = store.get_segment(s, segment_id=segment_id)
            if seg is not None and seg.branch_id == branch_id:
                return seg.size, True
            return staged_offset(self.plane.data_dir / "uploads", branch_id, segment_id), False

        return await asyncio.to_thread(look)


def _view(s: RecordedSegment) -> PlaylistSegment:
    return PlaylistSegment(s.id, s.started_at, s.duration, s.size, s.init_size)
