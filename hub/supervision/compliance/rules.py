"""Compliance rules and outcomes: pure functions, no database.

For each branch, meeting type and period the outcome is one of
- held_ok: held (long enough, on the right day) with quorum and a recording;
- no_quorum: held, but the quorum was not met;
- not_recorded: held with quorum but neither streamed nor recorded;
- not_held: nothing that counts was held (final once the period closed);
- due: the period is still open and nothing has been held yet.

Periods that began before the branch was set up are not judged (`judged`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from hub.supervision.compliance.periods import Period, theme_day

OUTCOMES = ("held_ok", "no_quorum", "not_recorded", "not_held", "due")
MET = "held_ok"
_RANK = {"held_ok": 0, "not_recorded": 1, "no_quorum": 2}


class RuleConflict(ValueError):
    """The configured rules contradict each other; the message names them."""


@dataclass(frozen=True)
class Rule:
    code: str
    name_zh: str
    frequency: str  # monthly | quarterly | yearly | when_due
    quorum: str
    min_minutes: int = 0
    fixed_day: int | None = None
    required: bool = True

    @property
    def periodic(self) -> bool:
        return self.frequency != "when_due"


@dataclass(frozen=True)
class HeldMeeting:
    id: str
    meeting_type: str
    local_day: date  # the county's calendar day it started
    minutes: float | None  # None while still running
    quorum_met: bool
    recorded: bool


@dataclass(frozen=True)
class Note:
    """Why an outcome is what it is, as a code and its values: the dashboard
    writes it in the reader's language (i18n key "sv.note_<code>")."""
    code: str
    params: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def of(code: str, **params: object) -> Note:
        return Note(code, tuple((k, str(v)) for k, v in params.items()))

    @property
    def text(self) -> str:
        """English, for logs and the API's plain `note`."""
        return _NOTE_EN[self.code].format(**dict(self.params))


_NOTE_EN = {
    "theme_day": "theme day {day}",
    "not_fixed_day": "held on {held}, not on the fixed day {day}",
    "still_running": "still running",
    "too_short": "lasted {minutes} min, under the {min} min minimum",
}


@dataclass(frozen=True)
class Outcome:
    code: str
    period: Period
    status: str
    meeting_id: str | None = None
    notes: tuple[Note, ...] = ()

    @property
    def met(self) -> bool:
        return self.status == MET

    @property
    def note(self) -> str:
        return "; ".join(n.text for n in self.notes)


def effective_rules(meeting_types: Iterable[object], overrides: Sequence[object] = ()) -> list[Rule]:
    """Merge Settings.meeting_types with supervision overrides and check
    that the result is consistent. Objects need the attributes of
    hub.config.MeetingTypeConfig / supervision RuleOverride."""
    rules: dict[str, Rule] = {}
    for t in meeting_types:
        rules[t.code] = Rule(t.code, t.name_zh, t.frequency, t.quorum, t.min_minutes, t.fixed_day)  # type: ignore[attr-defined]
    problems: list[str] = []
    for o in overrides:
        base = rules.get(o.code)  # type: ignore[attr-defined]
        if base is None:
            problems.append(f"override for unknown meeting type {o.code!r}")  # type: ignore[attr-defined]
            continue
        rules[base.code] = Rule(
            base.code, base.name_zh,
            o.frequency or base.frequency,  # type: ignore[attr-defined]
            base.quorum,
            base.min_minutes if o.min_minutes is None else o.min_minutes,  # type: ignore[attr-defined]
            base.fixed_day if o.fixed_day is None else o.fixed_day,  # type: ignore[attr-defined]
            o.required,  # type: ignore[attr-defined]
        )
    for r in rules.values():
        if r.fixed_day is not None and r.frequency != "monthly":
            problems.append(f"{r.code}: a fixed day of the month needs frequency monthly, not {r.frequency}")
        if r.fixed_day is not None and r.min_minutes > 24 * 60:
            problems.append(f"{r.code}: a one-day meeting cannot last {r.min_minutes} minutes")
        if r.min_minutes > 7 * 24 * 60:
            problems.append(f"{r.code}: min_minutes {r.min_minutes} is longer than a week")
    if problems:
        raise RuleConflict("Conflicting compliance rules: " + "; ".join(problems) + ". Fix the configuration and restart.")
    return list(rules.values())


def counts_for(rule: Rule, period: Period, meeting: HeldMeeting, moves: Mapping[date, date]) -> Note | None:
    """Why this meeting does not count for the rule and period, or None if it does."""
    if meeting.meeting_type != rule.code:
        return Note.of("another_type")
    if not period.contains(meeting.local_day):
        return Note.of("outside_period")
    if rule.fixed_day is not None:
        day = theme_day(period.start.year, period.start.month, rule.fixed_day, moves)
        if meeting.local_day != day:
            return Note.of("not_fixed_day", held=meeting.local_day, day=day)
    if rule.min_minutes:
        if meeting.minutes is None:
            return Note.of("still_running")
        if meeting.minutes < rule.min_minutes:
            return Note.of("too_short", minutes=f"{meeting.minutes:.0f}", min=rule.min_minutes)
    return None


def classify(meeting: HeldMeeting) -> str:
    if not meeting.quorum_met:
        return "no_quorum"
    if not meeting.recorded:
        return "not_recorded"
    return "held_ok"


def evaluate(
    rule: Rule, period: Period, meetings: Iterable[HeldMeeting], today: date,
    moves: Mapping[date, date] | None = None,
) -> Outcome:
    """The outcome for one branch, one rule, one period, given every meeting
    the branch held (any type; the irrelevant ones are skipped). The best
    meeting decides: held_ok beats not_recorded beats no_quorum."""
    moves = moves or {}
    best: tuple[int, HeldMeeting] | None = None
    reasons: list[Note] = []
    for m in meetings:
        why = counts_for(rule, period, m, moves)
        if why is not None:
            if m.meeting_type == rule.code and period.contains(m.local_day):
                reasons.append(why)
            continue
        rank = _RANK[classify(m)]
        if best is None or rank < best[0]:
            best = (rank, m)
    if best is not None:
        return Outcome(rule.code, period, classify(best[1]), best[1].id)
    if rule.fixed_day is not None:
        day = theme_day(period.start.year, period.start.month, rule.fixed_day, moves)
        notes = (Note.of("theme_day", day=day), *reasons)
        return Outcome(rule.code, period, "due" if today <= day else "not_held", None, notes)
    return Outcome(rule.code, period, "due" if not period.is_closed(today) else "not_held", None, tuple(reasons))


def judged(outcome: Outcome, since: date | None) -> bool:
    """Whether the outcome holds against a branch the hub has known since
    `since` (the county day it was set up): a period that began before that
    is not held against it; in its first, partial period a meeting it did
    hold still shows, but none is not a miss. None: judge every period."""
    if since is None or outcome.period.start >= since:
        return True
    return outcome.status in _RANK


def headcount_flag(checkins: int, max_headcount: int | None, ratio: float, min_checkins: int) -> str | None:
    """A reason to review the meeting when the camera saw far fewer people
    than checked in (check-ins by proxy, a meeting held on paper)."""
    if max_headcount is None or checkins < min_checkins:
        return None
    if max_headcount < checkins * ratio:
        return f"camera headcount {max_headcount} far below {checkins} check-ins (< {ratio:.0%}); review the recording"
    return None
