"""Settings of the scheduled backups (`[backup]` in hub.toml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(
        default=None,
        title="Scheduled backups directory",
        description="Where the hub writes a backup every `every_hours`; empty = no scheduled backups. "
        "Put it on another disk or a mounted network share.",
    )
    every_hours: float = Field(default=24, gt=0, title="Hours between scheduled backups")
    keep: int = Field(default=7, ge=1, title="Scheduled backups kept (older ones are deleted)")
    recordings: str = Field(
        default="copy",
        pattern="^(copy|reference)$",
        title="Recordings in backups",
        description="copy: recordings are copied (hard-linked from the previous backup when unchanged, "
        "so daily backups cost only the new recordings); reference: listed with their checksums "
        "but not copied (back the recordings disk up by other means)",
    )
