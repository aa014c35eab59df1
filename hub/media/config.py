"""Media plane settings (nested under `media` in the hub's Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MediaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, title="Run the media plane (WHIP/WHEP/recording)")
    ice_host_addresses: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        title="Addresses offered to halls and browsers as ICE host candidates",
        description="aioice never offers 127.0.0.1 on its own and offers every interface "
        "otherwise; the hub offers exactly these (the addresses halls can reach).",
    )
    udp_receive_buffer_bytes: int = Field(
        default=2 * 1024**2,
        ge=0,
        title="SO_RCVBUF of each media socket (bytes; capped by net.core.rmem_max; 0: OS default)",
        description="Absorbs event-loop hiccups instead of dropping RTP packets.",
    )
    stun_urls: list[str] = Field(
        default_factory=list,
        title="STUN/TURN servers (none by default: county networks are closed)",
    )
    segment_seconds: float = Field(default=6.0, gt=0, le=10, title="Recording segment length (s)")
    max_sdp_bytes: int = Field(
        default=64 * 1024, gt=0, title="Largest SDP offer accepted (bytes)"
    )
    stall_seconds: float = Field(
        default=5.0, gt=0, title="No media for this long on a connected publisher -> 'stalled'"
    )
    offline_seconds: float = Field(
        default=30.0,
        gt=0,
        title="No media for this long -> publisher dropped ('offline'), resources freed",
    )
    viewer_queue_frames: int = Field(
        default=60, gt=1, title="Frames queued per viewer before it drops (slow viewer)"
    )
    max_publishers_per_process: int = Field(
        default=300,
        gt=0,
        title="Publishers one media process accepts before answering 503 (admission control)",
        description="Overload is a cliff: past one core, UDP and ICE keep-alives drop for "
        "every stream. Use workers to take more.",
    )
    max_viewers_per_branch: int = Field(default=32, gt=0, title="WHEP viewers per branch")
    retention_days: dict[str, int] = Field(
        default_factory=lambda: {"default": 180},
        title="Days a recording is kept, per meeting type ('default' for the others)",
    )
    min_free_bytes: int = Field(
        default=2 * 1024**3,
        ge=0,
        title="Emergency clean-up of the oldest unflagged recordings below this free space",
    )
    stop_recording_free_bytes: int = Field(
        default=256 * 1024**2,
        ge=0,
        title="Recording stops (live relay continues) below this free space",
    )
    housekeeping_seconds: float = Field(
        default=60.0, gt=0, title="How often retention and disk checks run (s)"
    )
    max_upload_bytes: int = Field(
        default=512 * 1024**2, gt=0, title="Largest backfilled segment accepted (bytes)"
    )
    export_timeout_seconds: float = Field(
        default=900.0, gt=0, title="An export process taking longer is stopped (s)"
    )
    export_max_bytes: int = Field(
        default=8 * 1024**3, gt=0, title="Largest export file; the export stops there (bytes)"
    )
    export_concurrency: int = Field(default=2, gt=0, le=16, title="Exports running at once")
    export_queue_seconds: float = Field(
        default=30.0, ge=0, title="How long an export waits for its turn before 503 (s)"
    )
    writer_threads: int = Field(
        default=2, gt=0, le=32, title="Threads muxing segments to disk (blocking work)"
    )
    workers: int = Field(
        default=1,
        ge=0,
        title="Local media node processes (1: media in the hub's own process; 0: one per core)",
        description="With more than one, live media runs in node processes the hub starts "
        "and restarts with backoff; each hall goes to the node holding it, else to one chosen "
        "by rendezvous hashing over the nodes that are up; the hub process proxies WHIP/WHEP.",
    )
