"""Compliance periods: pure date arithmetic, no database.

A period is the calendar month, quarter or year a meeting type must be held
in; `when_due` types (elections) have no period. The theme party day is a
fixed day of each month, possibly moved by configuration (a holiday)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

FREQUENCIES = ("monthly", "quarterly", "yearly")


@dataclass(frozen=True, order=True)
class Period:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    key: str  # "2025-03", "2025-Q1", "2025"

    @property
    def closes_on(self) -> date:
        """The first day after the period: outcomes are final from then on."""
        return self.end + timedelta(days=1)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def is_closed(self, today: date) -> bool:
        return today > self.end


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def period_of(frequency: str, day: date) -> Period:
    if frequency == "monthly":
        return Period(date(day.year, day.month, 1), _month_end(day.year, day.month), f"{day.year}-{day.month:02d}")
    if frequency == "quarterly":
        q = (day.month - 1) // 3 + 1
        first = 3 * (q - 1) + 1
        return Period(date(day.year, first, 1), _month_end(day.year, first + 2), f"{day.year}-Q{q}")
    if frequency == "yearly":
        return Period(date(day.year, 1, 1), date(day.year, 12, 31), str(day.year))
    raise ValueError(f"frequency {frequency!r} has no periods; use one of {', '.join(FREQUENCIES)}")


def periods_between(frequency: str, first: date, last: date) -> list[Period]:
    """Every period that overlaps [first, last], in order."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    out: list[Period] = []
    p = period_of(frequency, first)
    while p.start <= last:
        out.append(p)
        p = period_of(frequency, p.closes_on)
    return out


def parse_period_key(key: str) -> tuple[str, Period]:
    """'2025-03' -> monthly, '2025-Q2' -> quarterly, '2025' -> yearly."""
    try:
        if len(key) == 4:
            return "yearly", period_of("yearly", date(int(key), 1, 1))
        year, rest = key.split("-", 1)
        if rest.upper().startswith("Q"):
            q = int(rest[1:])
            if not 1 <= q <= 4:
                raise ValueError
            return "quarterly", period_of("quarterly", date(int(year), 3 * q - 2, 1))
        return "monthly", period_of("monthly", date(int(year), int(rest), 1))
    except ValueError:
        raise ValueError(f"period {key!r} is not a month (2025-03), quarter (2025-Q1) or year (2025)") from None


def theme_day(year: int, month: int, fixed_day: int, moves: Mapping[date, date] | None = None) -> date:
    """The day the theme party day is held in this month: the fixed day
    (clamped to the month's last day), or where configuration moved it."""
    nominal = date(year, month, min(fixed_day, _month_end(year, month).day))
    return (moves or {}).get(nominal, nominal)


def local_day(moment: datetime, utc_offset_hours: float) -> date:
    """The county's calendar day of a UTC instant."""
    return (moment.astimezone(UTC) + timedelta(hours=utc_offset_hours)).date()


def local_midnight_utc(day: date, utc_offset_hours: float) -> datetime:
    """The UTC instant at which the county's calendar day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=utc_offset_hours)
