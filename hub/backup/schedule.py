"""Scheduled backups: one task in the hub, the work in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime

from hub.backup.snapshot import create_backup, list_backups, prune
from hub.context import HubContext

log = logging.getLogger(__name__)


def _age_seconds(path: os.PathLike[str]) -> float:
    stamp = os.path.basename(path).removeprefix("branchlive-backup-").removesuffix("Z")
    made = datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return (datetime.now(UTC) - made).total_seconds()


def run_once(ctx: HubContext) -> None:
    cfg = ctx.settings.backup
    assert cfg.dir is not None
    previous = list_backups(cfg.dir)
    result = create_backup(ctx.settings, cfg.dir, recordings=cfg.recordings,
                           link_dest=previous[-1] if previous else None)
    removed = prune(cfg.dir, cfg.keep)
    log.info("scheduled backup written to %s (%d files, %d linked); %d old backups removed",
             result.path, result.files, result.linked, len(removed))


async def _loop(ctx: HubContext) -> None:
    cfg = ctx.settings.backup
    assert cfg.dir is not None
    period = cfg.every_hours * 3600
    while True:
        previous = await asyncio.to_thread(list_backups, cfg.dir)
        wait = period - _age_seconds(previous[-1]) if previous else 0.0
        if wait > 0:
            await asyncio.sleep(wait)
            continue
        try:
            await asyncio.to_thread(run_once, ctx)
        except Exception:
            # A full backup disk must not take the hub down; try again later.
            log.exception("scheduled backup into %s failed; next try in %.0f s", cfg.dir, min(period, 600))
            await asyncio.sleep(min(period, 600))


def start(ctx: HubContext) -> asyncio.Task[None] | None:
    if ctx.settings.backup.dir is None:
        return None
    return asyncio.create_task(_loop(ctx), name="scheduled-backup")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
