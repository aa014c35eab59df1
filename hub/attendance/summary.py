"""The numbers every surface shows for a meeting, computed in one place.

The wall tile, the branch view and the hall's kiosk all show 实到 / 应到,
请假 and the quorum (法定人数) with met or not; the wall computes them from
its in-memory tiles, the edge gateway from the database, both through
`summarise`, so they cannot drift apart.

- 应到 (expected): the members the meeting calls (the committee for a
  支委会, every active member otherwise: `quorum.called`), less those
  excused from the count with approval (roster `excused`), unless they
  came anyway.
- 实到 (present): members called who checked in (a member sitting in on a
  committee meeting is on the attendance list but not in the numbers).
- 请假 (on leave): members called with a leave request for this meeting who
  did not come. Leave does not lower 应到 (party practice: the quorum is of
  those who should attend), it explains an absence; 缺席 = 应到 - 实到 - 请假.
- quorum: the meeting type's rule (hub/meetings/quorum.py): who counts,
  how many must be present, met or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from hub.meetings import quorum


@dataclass(frozen=True)
class AttendanceSummary:
    meeting_id: str
    expected: int  # 应到
    present: int  # 实到
    on_leave: int  # 请假
    absent: int  # 缺席
    roster: int  # active members
    quorum: quorum.Quorum
    present_ids: tuple[int, ...]
    leave_ids: tuple[int, ...]
    counted_ids: tuple[int, ...]  # members the quorum rule counts (for an edge's pending check-ins)
    # For an edge's pending check-ins too: whom the meeting calls, and which
    # of them are excused (in 应到 only if they come).
    called_ids: tuple[int, ...] = ()
    excused_ids: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["present_ids"], out["leave_ids"] = list(self.present_ids), list(self.leave_ids)
        for key in ("counted_ids", "called_ids", "excused_ids"):
            out[key] = list(getattr(self, key))
        share = quorum.RULES.get(self.quorum.rule)
        if share is not None:  # "more than" this share: an edge recomputes `required` from it
            out["quorum"]["share"] = [share.numerator, share.denominator]
        return out


def summarise(meeting_id: str, rule: str, roster: list[quorum.RosterEntry], present_ids: Iterable[int],
              leave_ids: Iterable[int]) -> AttendanceSummary:
    active = {m.member_id for m in roster}
    present_any = {i for i in present_ids if i in active}
    called = quorum.called(rule, roster)
    called_ids = {m.member_id for m in called}
    present = present_any & called_ids
    leave = {i for i in leave_ids if i in called_ids and i not in present}
    expected = len(quorum.expected_members(rule, roster, present))
    q = quorum.compute(rule, roster, present)
    if rule == "none":
        counted = active
    elif rule == "half_committee":
        counted = {m.member_id for m in roster if m.committee}
    else:
        counted = {m.member_id for m in roster if m.status == "full"}
    return AttendanceSummary(
        meeting_id=meeting_id, expected=expected, present=len(present), on_leave=len(leave),
        absent=max(0, expected - len(present) - len(leave)), roster=len(roster), quorum=q,
        present_ids=tuple(sorted(present_any)), leave_ids=tuple(sorted(leave)), counted_ids=tuple(sorted(counted)),
        called_ids=tuple(sorted(called_ids)), excused_ids=tuple(sorted(m.member_id for m in called if m.excused)),
    )
