"""Periods and compliance outcomes as pure functions: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from hub.config import DEFAULT_MEETING_TYPES
from hub.meetings import quorum
from hub.supervision.compliance.periods import (
    local_day,
    parse_period_key,
    period_of,
    periods_between,
    theme_day,
)
from hub.supervision.compliance.rules import (
    HeldMeeting,
    Rule,
    RuleConflict,
    effective_rules,
    evaluate,
    headcount_flag,
    judged,
)
from hub.supervision.config import RuleOverride, SupervisionSettings

GENERAL = Rule("general_meeting", "支部党员大会", "quarterly", "half_voting")
THEME = Rule("theme_day", "主题党日", "monthly", "none", fixed_day=5)
COMMITTEE = Rule("committee", "支委会", "monthly", "half_committee", min_minutes=30)


def held(day: date, code: str = "general_meeting", *, minutes: float | None = 60, quorum_met: bool = True,
         recorded: bool = True, mid: str = "m1") -> HeldMeeting:
    return HeldMeeting(mid, code, day, minutes, quorum_met, recorded)


def test_periods_month_quarter_year() -> None:
    assert period_of("monthly", date(2024, 2, 10)).end == date(2024, 2, 29)  # leap year
    q1 = period_of("quarterly", date(2025, 3, 31))
    assert (q1.start, q1.end, q1.key) == (date(2025, 1, 1), date(2025, 3, 31), "2025-Q1")
    assert period_of("quarterly", date(2025, 4, 1)).key == "2025-Q2"
    assert period_of("quarterly", date(2025, 12, 31)).end == date(2025, 12, 31)
    assert period_of("yearly", date(2025, 7, 1)).key == "2025"
    assert [p.key for p in periods_between("quarterly", date(2024, 11, 1), date(2025, 4, 2))] == ["2024-Q4", "2025-Q1", "2025-Q2"]
    assert parse_period_key("2025-Q2")[1].start == date(2025, 4, 1)
    assert parse_period_key("2025-03")[0] == "monthly"
    with pytest.raises(ValueError, match="not a month"):
        parse_period_key("2025-Q5")
    with pytest.raises(ValueError, match="no periods"):
        period_of("when_due", date(2025, 1, 1))


def test_quarter_end_is_decided_in_county_time() -> None:
    # 23:30 on 31 March in the county is 15:30 UTC: still the first quarter.
    late = datetime(2025, 3, 31, 15, 30, tzinfo=UTC)
    assert local_day(late, 8) == date(2025, 3, 31)
    # 01:00 on 1 April in the county is 17:00 UTC on 31 March: the second.
    early = datetime(2025, 3, 31, 17, 0, tzinfo=UTC)
    assert local_day(early, 8) == date(2025, 4, 1)
    q1, q2 = period_of("quarterly", date(2025, 2, 1)), period_of("quarterly", date(2025, 5, 1))
    meetings = [held(local_day(early, 8))]
    assert evaluate(GENERAL, q1, meetings, today=date(2025, 6, 1)).status == "not_held"
    assert evaluate(GENERAL, q2, meetings, today=date(2025, 6, 1)).status == "held_ok"
    assert evaluate(GENERAL, q1, [held(local_day(late, 8))], today=date(2025, 6, 1)).status == "held_ok"


def test_each_outcome() -> None:
    q = period_of("quarterly", date(2025, 1, 1))
    after = date(2025, 4, 2)
    assert evaluate(GENERAL, q, [held(date(2025, 2, 3))], after).status == "held_ok"
    assert evaluate(GENERAL, q, [held(date(2025, 2, 3), quorum_met=False)], after).status == "no_quorum"
    assert evaluate(GENERAL, q, [held(date(2025, 2, 3), recorded=False)], after).status == "not_recorded"
    assert evaluate(GENERAL, q, [], after).status == "not_held"
    assert evaluate(GENERAL, q, [], date(2025, 3, 31)).status == "due"  # last day: still open
    # The best meeting decides; the outcome names it.
    best = evaluate(GENERAL, q, [held(date(2025, 1, 9), quorum_met=False, mid="a"), held(date(2025, 3, 9), recorded=False, mid="b")], after)
    assert (best.status, best.meeting_id) == ("not_recorded", "b")
    # Other types and other periods do not count.
    assert evaluate(GENERAL, q, [held(date(2025, 2, 3), "committee"), held(date(2025, 4, 1))], after).status == "not_held"


def test_minimum_duration() -> None:
    p = period_of("monthly", date(2025, 5, 1))
    short = evaluate(COMMITTEE, p, [held(date(2025, 5, 6), "committee", minutes=20)], date(2025, 6, 1))
    assert short.status == "not_held" and "under the 30 min minimum" in short.note
    running = evaluate(COMMITTEE, p, [held(date(2025, 5, 6), "committee", minutes=None)], date(2025, 5, 6))
    assert running.status == "due" and "still running" in running.note


def test_theme_day_on_its_day_and_moved_for_a_holiday() -> None:
    oct25 = period_of("monthly", date(2025, 10, 1))
    moves = {date(2025, 10, 5): date(2025, 10, 9)}  # National Day holiday
    assert theme_day(2025, 10, 5, moves) == date(2025, 10, 9)
    assert theme_day(2025, 2, 31) == date(2025, 2, 28)
    # Held on the moved day: met. Held on the nominal day: does not count.
    assert evaluate(THEME, oct25, [held(date(2025, 10, 9), "theme_day")], date(2025, 11, 1), moves).status == "held_ok"
    wrong = evaluate(THEME, oct25, [held(date(2025, 10, 5), "theme_day")], date(2025, 11, 1), moves)
    assert wrong.status == "not_held" and "not on the fixed day 2025-10-09" in wrong.note
    # Without the move the 5th is right.
    assert evaluate(THEME, oct25, [held(date(2025, 10, 5), "theme_day")], date(2025, 11, 1)).status == "held_ok"
    # Before the moved day nothing is late yet; after it, it is.
    assert evaluate(THEME, oct25, [], date(2025, 10, 8), moves).status == "due"
    assert evaluate(THEME, oct25, [], date(2025, 10, 10), moves).status == "not_held"


def test_probationary_members_do_not_make_the_quorum() -> None:
    roster = [quorum.RosterEntry(i, "full", False, False) for i in (1, 2, 3, 4)]
    roster += [quorum.RosterEntry(i, "probationary", False, False) for i in (5, 6, 7)]
    q = quorum.compute("half_voting", roster, {1, 2, 5, 6, 7})  # 5 in the room, 2 of 4 voting
    assert (q.expected, q.present, q.required, q.met) == (4, 2, 3, False)
    assert quorum.compute("half_voting", roster, {1, 2, 3}).met


def test_conflicting_rules_are_refused_with_names() -> None:
    rules = effective_rules(DEFAULT_MEETING_TYPES, [RuleOverride(code="party_lecture", frequency="monthly")])
    assert next(r for r in rules if r.code == "party_lecture").frequency == "monthly"
    with pytest.raises(RuleConflict, match="theme_day: a fixed day of the month needs frequency monthly, not quarterly"):
        effective_rules(DEFAULT_MEETING_TYPES, [RuleOverride(code="theme_day", frequency="quarterly")])
    with pytest.raises(RuleConflict, match="unknown meeting type 'tea_party'"):
        effective_rules(DEFAULT_MEETING_TYPES, [RuleOverride(code="tea_party", min_minutes=5)])
    with pytest.raises(ValidationError, match="both moved to 2025-10-09"):
        SupervisionSettings(theme_day_moves={"2025-10-05": "2025-10-09", "2025-10-06": "2025-10-09"})
    with pytest.raises(ValidationError, match="outside its month"):
        SupervisionSettings(theme_day_moves={"2025-09-05": "2025-10-09"})
    with pytest.raises(ValidationError, match="repeat committee"):
        SupervisionSettings(rule_overrides=[{"code": "committee"}, {"code": "committee", "min_minutes": 10}])
    with pytest.raises(ValidationError, match="sms.url must be an http"):
        SupervisionSettings(sms={"enabled": True})


def test_headcount_flag() -> None:
    assert headcount_flag(20, 4, 0.5, 5) is not None
    assert headcount_flag(20, 12, 0.5, 5) is None
    assert headcount_flag(3, 0, 0.5, 5) is None  # too few to judge
    assert headcount_flag(20, None, 0.5, 5) is None  # no camera count


def test_periods_before_the_branch_was_set_up_are_not_judged() -> None:
    set_up = date(2026, 11, 12)
    today = date(2026, 12, 28)
    held = [HeldMeeting("nov", "theme_day", date(2026, 11, 5), 60, True, True)]
    outcomes = {p.key: evaluate(THEME, p, held, today) for p in periods_between("monthly", date(2026, 1, 1), date(2026, 12, 31))}
    assert outcomes["2026-01"].status == "not_held" and not judged(outcomes["2026-01"], set_up)
    assert not judged(outcomes["2026-10"], set_up)
    # its first, partial month: the theme day it did hold shows; had it held none, nothing is owed
    assert outcomes["2026-11"].status == "held_ok" and judged(outcomes["2026-11"], set_up)
    assert not judged(evaluate(THEME, period_of("monthly", set_up), [], today), set_up)
    assert judged(outcomes["2026-12"], set_up) and outcomes["2026-12"].status == "not_held"
    assert judged(outcomes["2026-01"], None)
