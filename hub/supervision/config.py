"""Supervision settings: compliance timing, the theme-day calendar, the
headcount red flag, reminders and the SMS gateway.

Nested in the hub's Settings as `supervision` (environment variables
`BRANCHLIVE_SUPERVISION__...`); `settings_for(ctx)` returns it.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from hub.context import HubContext


class SmsGatewaySettings(BaseModel):
    """A generic HTTP SMS gateway. `body_template` is a JSON value whose
    strings may contain {phone}, {text}, {key} (the idempotency key) and
    {kind}; they are substituted per message."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, title="Send SMS", description="Off: SMS notifications stay queued")
    url: str = Field(default="", title="Gateway URL", description="e.g. https://sms.example.gov.cn/api/send")
    method: str = Field(default="POST", pattern="^(POST|PUT)$", title="HTTP method")
    body_template: dict[str, Any] = Field(
        default_factory=lambda: {"to": "{phone}", "content": "{text}", "requestId": "{key}"},
        title="JSON body template",
        description="Strings may contain {phone}, {text}, {key}, {kind}",
    )
    auth_header: str = Field(default="Authorization", title="Auth header name")
    auth_value: str = Field(default="", title="Auth header value", description="e.g. 'Bearer <token>'; empty = no header")
    idempotency_header: str = Field(default="Idempotency-Key", title="Header carrying the idempotency key")
    timeout_seconds: float = Field(default=10, gt=0, le=120, title="Timeout per attempt (s)")
    max_attempts: int = Field(default=6, ge=1, le=50, title="Attempts before a message is marked failed")
    backoff_initial_seconds: float = Field(default=5, gt=0, title="First retry delay (s)")
    backoff_max_seconds: float = Field(default=900, gt=0, title="Longest retry delay (s)")

    @model_validator(mode="after")
    def _url_when_enabled(self) -> SmsGatewaySettings:
        if self.enabled and not self.url.startswith(("http://", "https://")):
            raise ValueError("sms.url must be an http(s) URL when sms.enabled is true")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("sms.backoff_max_seconds must not be below sms.backoff_initial_seconds")
        return self


class RuleOverride(BaseModel):
    """Overrides a meeting type's compliance timing (Settings.meeting_types
    keep the defaults)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(title="Meeting type code")
    frequency: str | None = Field(default=None, pattern="^(monthly|quarterly|yearly|when_due)$")
    min_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    fixed_day: int | None = Field(default=None, ge=1, le=28, title="Fixed day (1-28, so every month has it)")
    required: bool = Field(default=True, title="Checked for compliance")


class SupervisionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    utc_offset_hours: float = Field(default=8, ge=-12, le=14, title="County time zone offset from UTC (China: 8)")
    theme_day_moves: dict[date, date] = Field(
        default_factory=dict,
        title="Theme days moved (holidays)",
        description="Original theme day -> the day it is held instead, e.g. {'2025-10-05': '2025-10-09'}",
    )
    rule_overrides: list[RuleOverride] = Field(default_factory=list, title="Compliance rule overrides")
    reminder_days: int = Field(default=5, ge=0, le=60, title="Remind secretaries this many days before a period closes")
    check_interval_seconds: float = Field(default=900, gt=0, title="How often the compliance scheduler runs")
    headcount_ratio: float = Field(
        default=0.5, gt=0, le=1, title="Flag a meeting whose camera headcount is below this share of its check-ins"
    )
    headcount_min_checkins: int = Field(default=5, ge=1, title="Only flag meetings with at least this many check-ins")
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, title="Largest evidence upload")
    recording_tables: list[str] = Field(
        default_factory=lambda: ["recording_segments", "media_segments"],
        title="Tables whose rows (with meeting_id) prove a recording",
    )
    sms: SmsGatewaySettings = Field(default_factory=SmsGatewaySettings, title="SMS gateway")

    @field_validator("theme_day_moves")
    @classmethod
    def _moves(cls, value: dict[date, date]) -> dict[date, date]:
        targets: dict[date, date] = {}
        for src, dst in value.items():
            if (src.year, src.month) != (dst.year, dst.month):
                raise ValueError(f"theme day {src} is moved to {dst}, outside its month; move it within the month")
            if dst in targets:
                raise ValueError(f"theme days {targets[dst]} and {src} are both moved to {dst}; give each its own day")
            targets[dst] = src
        return value

    @field_validator("rule_overrides")
    @classmethod
    def _unique(cls, value: list[RuleOverride]) -> list[RuleOverride]:
        codes = [r.code for r in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"rule_overrides repeat {', '.join(dupes)}; keep one override per meeting type")
        return value


def settings_for(ctx: HubContext) -> SupervisionSettings:
    """The supervision section of the hub's settings (`Settings.supervision`)."""
    return ctx.settings.supervision
