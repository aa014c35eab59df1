"""Whether a meeting has a recording. The media plane indexes segments in
its own table (named `recording_segments` in the issue, `media_segments` in
the current media code); it may not exist in this build, so the table is
looked up by inspection and its absence means "no recording"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.orm import Session

DEFAULT_TABLES = ("recording_segments", "media_segments")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def segment_tables(session: Session, candidates: Sequence[str] = DEFAULT_TABLES) -> list[str]:
    """The candidate tables that exist and have a meeting_id column."""
    insp = inspect(session.connection())
    found = []
    for name in candidates:
        if not _IDENT.match(name) or not insp.has_table(name):
            continue
        if any(c["name"] == "meeting_id" for c in insp.get_columns(name)):
            found.append(name)
    return found


def meeting_has_recording(session: Session, meeting_id: str, tables: Sequence[str] = DEFAULT_TABLES) -> bool:
    for name in segment_tables(session, tables):
        row = session.execute(text(f"SELECT 1 FROM {name} WHERE meeting_id = :m LIMIT 1"), {"m": meeting_id}).first()
        if row is not None:
            return True
    return False


def meetings_with_recording(session: Session, meeting_ids: Iterable[str], tables: Sequence[str] = DEFAULT_TABLES) -> set[str]:
    """The subset of meeting ids that have at least one segment (batched)."""
    ids = list(dict.fromkeys(meeting_ids))
    found: set[str] = set()
    if not ids:
        return found
    for name in segment_tables(session, tables):
        stmt = text(f"SELECT DISTINCT meeting_id FROM {name} WHERE meeting_id IN :ids").bindparams(bindparam("ids", expanding=True))
        for i in range(0, len(ids), 500):
            found.update(r[0] for r in session.execute(stmt, {"ids": ids[i:i + 500]}))
    return found
