"""Media plane settings (nested under `media` in the hub's Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MediaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, title="Run the media plane (WHIP/WHEP/recording)")
    ice_host_addresses: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        title="Addresses offered to halls and browsers as ICE host candidates",
    )
    stun_urls: list[str] = Field(default_factory=list, title="STUN/TURN servers (none by default: county networks are closed)")
    segment_seconds: float = Field(default=6.0, gt=0, le=10, title="Recording segment length (s)")
