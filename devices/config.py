"""Settings of the edge agent (`branchlive edge`), validated once at start-up.

Sources, strongest first: keyword overrides (tests, CLI flags), environment
variables `BRANCHLIVE_EDGE_<FIELD>`, then an optional TOML file given with
`--config` (same field names, top level). Unknown names are refused, so a
typo in the TOML file or a stray `BRANCHLIVE_EDGE_*` variable is reported
instead of silently ignored. `load_settings` turns pydantic's report into one
readable line that names the bad setting.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from devices.agent.errors import ConfigError

ENV_PREFIX = "BRANCHLIVE_EDGE_"


class EdgeSettings(BaseSettings):
    """Everything a village hall's edge agent needs to run."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        title="Edge agent settings",
    )

    hub_url: str = Field(
        default="http://127.0.0.1:8600",  # the hub's own default port
        title="Hub URL",
        description="Base URL of the county hub (http:// or https://); the WebSocket "
        "link goes to /ws/edge on the same host (ws:// or wss://).",
    )
    data_dir: Path = Field(
        default=Path("edge-data"),
        title="Data directory",
        description="Where the agent keeps its SQLite database (outbox, roster, "
        "fingerprint slots) and its device token. Must survive reboots.",
    )
    device_token: SecretStr | None = Field(
        default=None,
        title="Device token",
        description="Bearer token for the hub. Usually left empty: the token from "
        "enrolment is kept in the token file in the data directory.",
    )
    token_file: str = Field(
        default="device-token",
        title="Token file",
        description="File name (inside the data directory) holding the device token.",
    )
    enrolment_code: SecretStr | None = Field(
        default=None,
        title="Enrolment code",
        description="One-time code from the county operators, exchanged for a device "
        "token at first start when no token is known.",
    )
    kiosk_host: str = Field(
        default="127.0.0.1",
        title="Kiosk listen host",
        description="Address the kiosk page is served on (the hall's screen browser).",
    )
    kiosk_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        title="Kiosk listen port",
        description="TCP port of the kiosk page (0 = any free port, logged at start).",
    )
    admin_pin: SecretStr = Field(
        default=SecretStr("000000"),
        title="Admin PIN",
        description="4 to 12 digits; unlocks the kiosk's admin mode (open/close a "
        "meeting, staff check-in, finger enrolment).",
    )
    reader_port: str | None = Field(
        default=None,
        title="Fingerprint reader serial port",
        description="Serial device of the UART fingerprint module, e.g. /dev/ttyUSB0; "
        "empty = no reader (staff check-in only).",
    )
    reader_baud: int = Field(
        default=57600,
        title="Fingerprint reader baud rate",
        description="UART speed of the fingerprint module.",
    )
    camera_source: str | None = Field(
        default=None,
        title="Camera source",
        description="USB camera index (0, 1...), rtsp:// or http:// URL, a file path, "
        "or 'pattern' (test card); empty = no camera.",
    )
    ice_host_addresses: list[str] | None = Field(
        default=None, title="WebRTC host addresses",
        description="Addresses offered to the hub for media (empty = every address of this PC). "
        "Set ['127.0.0.1'] when hub and agent run on one machine (demo, tests).",
    )
    camera_mode: Literal["encode", "passthrough"] = Field(
        default="encode", title="Camera encoding",
        description="encode: decode and encode here; passthrough: send an rtsp:// camera's "
        "H.264 as it is (no decoding, a few % of a core).",
    )
    audio_input: str = Field(
        default="default", title="Microphone",
        description="default = the system's default microphone (PulseAudio when a server runs, "
        "else ALSA); pulse:<source> or alsa:<device> (e.g. alsa:hw:1,0) for another one, see "
        "`branchlive edge --list-devices`; camera = the rtsp:// camera's own audio (pass-through "
        "only); tone or tone:<Hz> = a test tone (emulator and demo only); none = no sound.",
    )
    audio_output: str = Field(
        default="default", title="Speaker",
        description="Where the county's talkback is played: default = the system's default "
        "output; pulse:<sink> or alsa:<device> for another one; none = not played.",
    )
    video_width: int = Field(default=640, ge=160, le=3840, title="Video width",
                             description="Width of the published video in pixels.")
    video_height: int = Field(default=360, ge=120, le=2160, title="Video height",
                              description="Height of the published video in pixels.")
    video_fps: int = Field(default=15, ge=1, le=60, title="Video frame rate",
                           description="Frames per second of the published video.")
    video_bitrate_kbps: int = Field(
        default=600, ge=50, le=20000, title="Video bitrate",
        description="Target bitrate of the published video in kbit/s.",
    )
    disk_budget_mb: int = Field(
        default=4096, ge=64, title="Disk budget",
        description="Megabytes the agent may use for local recordings while offline.",
    )
    heartbeat_s: float = Field(
        default=10.0, gt=0, le=300, title="Heartbeat interval",
        description="Seconds between heartbeats to the hub.",
    )
    thumbnail_s: float = Field(
        default=10.0, gt=0, le=600, title="Thumbnail interval",
        description="Seconds between thumbnails sent to the hub.",
    )
    late_grace_min: float = Field(
        default=10.0, ge=0, le=240, title="Late grace period",
        description="Minutes after the scheduled start (or the start) before a "
        "check-in is flagged late (local practice).",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, le=120, title="Connect timeout",
        description="Seconds allowed for the hub handshake and enrolment requests.",
    )
    auth_retry_s: float = Field(
        default=300.0, gt=0, title="Retry after a refused token",
        description="Seconds between attempts once the hub refused the token (401).",
    )

    # -- the hall's link and storage (issue 10) --
    link_ping_s: float = Field(
        default=2.0, gt=0, le=60, title="Link ping interval",
        description="Seconds between WebSocket pings on the link to the hub; with the ping "
        "timeout (and 2 s to close) this bounds how long a silently cut link looks alive: 8 s by default.",
    )
    link_timeout_s: float = Field(
        default=4.0, gt=0, le=120, title="Link ping timeout",
        description="Seconds without a pong before the link to the hub is dropped and redialled.",
    )
    reconnect_cap_s: float = Field(
        default=8.0, ge=1, le=600, title="Reconnect backoff cap",
        description="Longest wait between two attempts to reach the hub (with jitter), so a "
        "hall is back within seconds of its link.",
    )
    outbox_reserve_mb: int = Field(
        default=16, ge=0, le=4096, title="Check-in reserve",
        description="Megabytes set aside on the data disk (a preallocated file) and given "
        "back to the check-in database when the disk is full (0 = none).",
    )
    reader_check_s: float = Field(
        default=60.0, gt=0, le=3600, title="Fingerprint library check",
        description="Seconds between looks at the fingerprint module's library; a module "
        "found empty (swapped, reset) is refilled from the hub's backup.",
    )

    @field_validator("hub_url")
    @classmethod
    def _check_hub_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. http://hub:8600")
        return value.rstrip("/")

    @field_validator("admin_pin")
    @classmethod
    def _check_pin(cls, value: SecretStr) -> SecretStr:
        pin = value.get_secret_value()
        if not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise ValueError("must be 4 to 12 digits")
        return value

    @field_validator("token_file")
    @classmethod
    def _check_token_file(cls, value: str) -> str:
        if not value or "/" in value or value in {".", ".."}:
            raise ValueError("must be a plain file name inside the data directory")
        return value

    def digest(self) -> str:
        """A short fingerprint of the settings, secrets left out, sent in hello so
        the county sees which halls run with the same configuration."""
        public = self.model_dump(mode="json", exclude={"device_token", "enrolment_code", "admin_pin"})
        return hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def ws_url(self) -> str:
        """`ws(s)://host/ws/edge` derived from `hub_url`."""
        parts = urlsplit(self.hub_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "/ws/edge", "", ""))

    @property
    def enrol_url(self) -> str:
        return self.hub_url + "/api/v1/devices/enrol"

    @property
    def token_path(self) -> Path:
        return self.data_dir / self.token_file

    @property
    def db_path(self) -> Path:
        return self.data_dir / "agent.db"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "settings"
    message = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        message = "unknown setting (check the spelling)"
    field = loc.split(".")[0]
    more = len(error.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    return (
        f"bad setting {loc} (env {ENV_PREFIX}{field.upper()}): {message}{tail}"
    )


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> EdgeSettings:
    """Build and validate the settings; raise `ConfigError` with one line."""
    settings_cls: type[EdgeSettings] = EdgeSettings
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found: pass an existing TOML file")

        class _FromFile(EdgeSettings):
            model_config = SettingsConfigDict(toml_file=path)

        settings_cls = _FromFile
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # e.g. a TOML syntax error
        raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from None
