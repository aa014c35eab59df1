"""Quorum (到会人数) from the roster: pure functions, no database.

- half_voting: more than half of the members with voting rights. Voting
  rights = full (正式) members; probationary (预备) members attend but do not
  count. Members excused with approval (seriously ill, abroad > 6 months...)
  are left out of the number expected, unless they attend.
- half_committee: more than half of the committee members.
- four_fifths_voting (elections): more than 4/5 of those entitled.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class RosterEntry:
    member_id: int
    status: str  # full | probationary
    excused: bool
    committee: bool


@dataclass(frozen=True)
class Quorum:
    rule: str
    expected: int  # 应到
    present: int  # 实到 (counted for the rule)
    required: int  # least number present for the rule
    met: bool


RULES = {"half_voting": Fraction(1, 2), "half_committee": Fraction(1, 2), "four_fifths_voting": Fraction(4, 5)}


def compute(rule: str, roster: list[RosterEntry], present_ids: set[int]) -> Quorum:
    if rule == "none":
        return Quorum(rule, len(roster), len(present_ids), 0, True)
    if rule not in RULES:
        raise ValueError(f"unknown quorum rule {rule!r}")
    if rule == "half_committee":
        counted = [m for m in roster if m.committee]
    else:
        counted = [m for m in roster if m.status == "full" and (not m.excused or m.member_id in present_ids)]
    expected = len(counted)
    present = sum(1 for m in counted if m.member_id in present_ids)
    # "more than" a fraction: the least integer strictly above it.
    required = int(RULES[rule] * expected) + 1 if expected else 1
    return Quorum(rule, expected, present, required, expected > 0 and present >= required)
