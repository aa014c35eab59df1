"""Hub configuration: one pydantic-settings model, validated once at start-up.

Sources, highest first: keyword arguments (tests), environment variables
`BRANCHLIVE_*` (nested with `__`, e.g. `BRANCHLIVE_MEDIA__WORKERS=2`), a TOML
file named by `BRANCHLIVE_CONFIG` or `branchlive hub --config`, defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.backup.config import BackupSettings
from hub.cluster.config import ClusterSettings
from hub.media.config import MediaSettings
from hub.supervision.config import SupervisionSettings


class MeetingTypeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(title="Code", description="Stable identifier used on the wire")
    name_zh: str = Field(title="Chinese name")
    name_en: str = Field(title="English name")
    frequency: str = Field(
        title="How often",
        description="monthly, quarterly, yearly, or when_due",
        pattern="^(monthly|quarterly|yearly|when_due)$",
    )
    quorum: str = Field(
        title="Quorum rule",
        description="none, half_voting (more than half of members with voting rights), "
        "half_committee (more than half of committee members), four_fifths_voting",
        pattern="^(none|half_voting|half_committee|four_fifths_voting)$",
    )
    min_minutes: int = Field(default=0, ge=0, title="Minimum duration in minutes")
    fixed_day: int | None = Field(
        default=None, ge=1, le=31, title="Fixed day of the month (theme day)"
    )


DEFAULT_MEETING_TYPES = [
    MeetingTypeConfig(code="general_meeting", name_zh="支部党员大会", name_en="Branch general meeting", frequency="quarterly", quorum="half_voting"),
    MeetingTypeConfig(code="committee", name_zh="支委会", name_en="Branch committee", frequency="monthly", quorum="half_committee"),
    MeetingTypeConfig(code="group_meeting", name_zh="党小组会", name_en="Party group meeting", frequency="monthly", quorum="none"),
    MeetingTypeConfig(code="party_lecture", name_zh="党课", name_en="Party lecture", frequency="quarterly", quorum="none"),
    MeetingTypeConfig(code="theme_day", name_zh="主题党日", name_en="Theme party day", frequency="monthly", quorum="none", fixed_day=5),
    MeetingTypeConfig(code="life_meeting", name_zh="组织生活会", name_en="Organisational life meeting", frequency="yearly", quorum="none"),
    MeetingTypeConfig(code="appraisal", name_zh="民主评议党员", name_en="Democratic appraisal", frequency="yearly", quorum="none"),
    MeetingTypeConfig(code="election", name_zh="换届选举", name_en="Election", frequency="when_due", quorum="four_fifths_voting"),
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRANCHLIVE_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    data_dir: Path = Field(default=Path("data"), title="Data directory", description="SQLite database, recordings, secrets")
    database_url: str | None = Field(
        default=None,
        title="Database URL",
        description="SQLAlchemy URL; empty = embedded SQLite in the data directory. "
        "PostgreSQL: postgresql+psycopg://user:password@host/db",
    )
    host: str = Field(default="127.0.0.1", title="Listen address")
    port: int = Field(default=8600, ge=1, le=65535, title="Listen port")
    public_url: str | None = Field(default=None, title="URL halls and browsers use to reach the hub")
    secret_key: str | None = Field(
        default=None,
        title="Secret key",
        description="Encrypts fingerprint template backups; generated into the data directory when empty",
    )
    session_hours: float = Field(default=12, gt=0, title="Operator session lifetime (hours)")
    login_attempts_per_minute: int = Field(
        default=10, ge=1, le=1000, title="Failed sign-ins allowed per minute per address and per account",
        description="Past it the address (or account) waits login_backoff_seconds, doubled at each further failure. "
        "The account limit never applies from an address the account has signed in from before, so an attacker "
        "cannot lock an operator out",
    )
    login_backoff_seconds: float = Field(default=60, gt=0, le=3600, title="First wait after too many failed sign-ins (seconds)")
    login_backoff_max_seconds: float = Field(default=3600, gt=0, le=86400, title="Longest wait after failed sign-ins (seconds)")
    enrol_attempts_per_minute: int = Field(
        default=10, ge=1, le=1000, title="Wrong enrolment codes allowed per minute per address",
        description="Same backoff as sign-ins: enrolment codes are short enough to type on a kiosk",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, title="Trusted reverse proxies",
        description="Addresses or networks (e.g. 10.0.0.5, 10.1.0.0/16) whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed. Empty (default): none; the caller's own address counts "
        "for rate limits and the audit trail",
    )
    api_docs: bool = Field(default=True, title="Serve /docs and /redoc",
                           description="Swagger UI and ReDoc, served from the hub itself (no CDN) to signed-in operators")
    metrics_token: str | None = Field(
        default=None, title="Prometheus scrape token",
        description="/metrics answers a scraper that sends 'Authorization: Bearer <token>'; without a token "
        "it answers signed-in county admins only",
    )
    late_grace_minutes: int = Field(default=10, ge=0, title="Minutes after the start before a check-in counts as late")
    device_offline_seconds: float = Field(default=30, gt=0, title="Silence before a hall is shown offline")
    meeting_types: list[MeetingTypeConfig] = Field(default_factory=lambda: list(DEFAULT_MEETING_TYPES), title="Meeting types")
    media: MediaSettings = Field(default_factory=MediaSettings, title="Media plane")
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings, title="Supervision")
    backup: BackupSettings = Field(default_factory=BackupSettings, title="Scheduled backups")
    cluster: ClusterSettings = Field(default_factory=ClusterSettings, title="Several hub nodes (NATS)",
                                     description="Empty nats_url (default): one machine")
    admin_username: str = Field(default="admin", title="First county admin's user name (created on first start)")
    admin_password: str | None = Field(default=None, title="First county admin's password (created on first start)")

    @field_validator("meeting_types")
    @classmethod
    def _unique_codes(cls, value: list[MeetingTypeConfig]) -> list[MeetingTypeConfig]:
        codes = [t.code for t in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"meeting type codes must be unique; repeated: {', '.join(dupes)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("BRANCHLIVE_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'branchlive.db').resolve()}"

    def meeting_type(self, code: str) -> MeetingTypeConfig | None:
        return next((t for t in self.meeting_types if t.code == code), None)


class ConfigError(Exception):
    """Bad configuration; the message names each bad setting."""


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build settings or raise ConfigError with one readable line per problem."""
    if config_file:
        if not Path(config_file).is_file():
            raise ConfigError(f"config file {config_file} does not exist: check the --config path")
        os.environ["BRANCHLIVE_CONFIG"] = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "(settings)"
            env = "BRANCHLIVE_" + "__".join(str(p) for p in err["loc"] if isinstance(p, str)).upper()
            problems.append(f"setting {name} ({env}): {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
