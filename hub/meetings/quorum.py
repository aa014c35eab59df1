"""Quorum (到会人数) from the roster: pure functions, no database.

- half_voting: more than half of the members with voting rights. Voting
  rights = full (正式) members; probationary (预备) members attend but do not
  count. Members excused with approval (seriously ill, abroad > 6 months...)
  are left out of the number expected, unless they attend.
- half_committee: more than half of the committee members. A committee
  meeting (支委会) calls only the committee, so its 应到 and its quorum
  have the same base: the committee members, less those excused with
  approval unless they attend.
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


def called(rule: str, roster: list[RosterEntry]) -> list[RosterEntry]:
    """The members a meeting under this rule calls: the committee for a
    committee meeting, every member on the roster otherwise."""
    if rule == "half_committee":
        return [m for m in roster if m.committee]
    return list(roster)


def expected_members(rule: str, roster: list[RosterEntry], present_ids: set[int]) -> list[RosterEntry]:
    """应到: the members called, less those excused with approval unless they came."""
    return [m for m in called(rule, roster) if not m.excused or m.member_id in present_ids]


def compute(rule: str, roster: list[RosterEntry], present_ids: set[int]) -> Quorum:
    if rule == "none":
        return Quorum(rule, len(roster), len(present_ids), 0, True)
    if rule not in RULES:
        raise ValueError(f"unknown quorum rule {rule!r}")
    counted = expected_members(rule, roster, present_ids)
    if rule != "half_committee":  # voting rules: probationary members attend but do not count
        counted = [m for m in counted if m.status == "full"]
    expected = len(counted)
    present = sum(1 for m in counted if m.member_id in present_ids)
    # "more than" a fraction: the least integer strictly above it.
    required = int(RULES[rule] * expected) + 1 if expected else 1
    return Quorum(rule, expected, present, required, expected > 0 and present >= required)
