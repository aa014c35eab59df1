"""Settings of the edge's media side; the agent core nests these in its own settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .encoder import EncoderSettings


class IceServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(title="ICE server URL", description="stun:host:port or turn:host:port?transport=udp")
    username: str | None = Field(None, title="TURN username")
    credential: SecretStr | None = Field(None, title="TURN password")


class VideoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(
        "pattern", title="Camera",
        description='"pattern", a USB camera index ("0") or /dev/videoN, an MJPEG http:// URL, '
                    "an rtsp:// URL, or a video file",
    )
    mode: Literal["encode", "passthrough"] = Field(
        "encode", title="Encoding",
        description="encode: decode and encode here; passthrough: send an RTSP camera's H.264 as is",
    )
    codec: Literal["h264", "vp8"] = Field("h264", title="Codec", description="H.264 preferred, VP8 accepted")
    width: int = Field(640, ge=320, le=1920, title="Width (px)")
    height: int = Field(360, ge=180, le=1080, title="Height (px)")
    fps: float = Field(15.0, ge=1, le=60, title="Frames per second")
    bitrate: int = Field(600_000, ge=50_000, le=8_000_000, title="Bitrate (bit/s)")
    keyframe_interval_s: float = Field(2.0, ge=0.2, le=2.0, title="Keyframe interval (s)",
                                       description="at most 2 s so a viewer joining waits little")
    stall_after_s: float = Field(5.0, gt=0, title="Stalled after (s)",
                                 description="no picture for this long: reopen the camera")
    black_after_s: float = Field(3.0, gt=0, title="Black after (s)",
                                 description="a nearly black picture this long is reported")

    def encoder_settings(self) -> EncoderSettings:
        return EncoderSettings(codec=self.codec, width=self.width, height=self.height, fps=self.fps,
                               bitrate=self.bitrate, keyframe_interval_s=self.keyframe_interval_s)


class PublisherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    whip_url: str = Field(title="WHIP endpoint", description="e.g. https://hub.example/whip/<branch>")
    token: SecretStr = Field(title="Device token", description="sent as Authorization: Bearer")
    ice_servers: list[IceServerSettings] = Field(
        default_factory=list, title="ICE servers",
        description="empty: host candidates only (no public STUN; county networks have no internet)",
    )
    ice_host_addresses: list[str] | None = Field(
        None, title="Host addresses to offer",
        description="restrict ICE host candidates to these addresses (process-wide); None: all",
    )
    http_timeout_s: float = Field(10.0, gt=0, title="HTTP timeout (s)")
    ice_gather_timeout_s: float = Field(10.0, gt=0, title="ICE gathering timeout (s)")
    connect_timeout_s: float = Field(20.0, gt=0, title="Connect timeout (s)")
    media_timeout_s: float = Field(
        10.0, gt=0, title="Media timeout (s)",
        description="no RTCP receiver report (hub gone) or no packet sent for this long: rebuild",
    )
    stats_interval_s: float = Field(1.0, gt=0, title="Health check period (s)")
    backoff_base_s: float = Field(1.0, gt=0, title="First retry delay (s)")
    backoff_cap_s: float = Field(30.0, gt=0, title="Longest retry delay (s)")
    auth_retry_s: float = Field(
        300.0, gt=0, title="Retry after a refused token (s)",
        description="a 401/403 is not retried in a loop; update_token() retries at once",
    )

    def ice_triples(self) -> list[tuple[str, str | None, str | None]]:
        return [(s.url, s.username, s.credential.get_secret_value() if s.credential else None)
                for s in self.ice_servers]


class MediaSettings(BaseModel):
    """Everything media on one hall PC: camera, microphone, publishing, thumbnails."""

    model_config = ConfigDict(extra="forbid")
    video: VideoSettings = Field(default_factory=VideoSettings, title="Video")
    audio_source: str | None = Field(
        "default", title="Microphone",
        description='"default" (the system\'s microphone), "pulse:<source>", "alsa:<device>", '
                    '"camera" (the rtsp:// camera\'s sound), "tone" or "tone:880" (emulator and demo '
                    'only), a file path, or null/"none" for no audio',
    )
    speaker: str = Field(
        "default", title="Talkback output",
        description='"default" (the system\'s speaker), "pulse:<sink>", "alsa:<device>", '
                    '"none" (not played) or "record" (kept in memory: tests)',
    )
    thumbnail_interval_s: float = Field(5.0, gt=0, title="Thumbnail every (s)")
    thumbnail_width: int = Field(320, ge=64, le=1280, title="Thumbnail width (px)")
    thumbnail_height: int = Field(180, ge=36, le=720, title="Thumbnail height (px)")
    thumbnail_quality: int = Field(70, ge=10, le=100, title="Thumbnail JPEG quality")
    headcount: bool = Field(True, title="Count people in the thumbnails")
    headcount_interval_s: float = Field(20.0, ge=0, title="Count people at most every (s)",
                                        description="counting costs 0.2-0.5 s of CPU a picture")

    @field_validator("audio_source")
    @classmethod
    def _no_audio(cls, value: str | None) -> str | None:
        return None if value in (None, "", "none") else value

    @field_validator("speaker")
    @classmethod
    def _check_speaker(cls, value: str) -> str:
        if value in ("none", "record", "default") or value.startswith(("pulse:", "alsa:")):
            return value
        raise ValueError('must be "default", "pulse:<sink>", "alsa:<device>", "none" or "record"')
