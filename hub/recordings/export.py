"""Export of a meeting as one file, made by a separate process.

FFmpeg's muxers and demuxers run in `python -m hub.recordings.exporter`, a
child process with its own limits (file size, CPU time, memory) and a
wall-clock timeout enforced here: a crash, a hang or a runaway file ends
that process only, and the caller gets a clear error instead of a hub that
died with every hall's live stream. At most `concurrency` exports run at
once; others wait their turn up to `queue_seconds`, then get 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.recordings import metrics
from hub.recordings.errors import ExportBusy, ExportFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportLimits:
    timeout_seconds: float = 900.0
    max_bytes: int = 8 * 1024**3
    concurrency: int = 2
    queue_seconds: float = 30.0


@dataclass(frozen=True)
class ExportResult:
    path: Path
    report: dict[str, object]


EXPORT_COMMAND = (sys.executable, "-m", "hub.recordings.exporter")


class Exporter:
    def __init__(self, limits: ExportLimits | None = None,
                 command: Sequence[str] = EXPORT_COMMAND) -> None:
        self.limits = limits or ExportLimits()
        self.command = tuple(command)
        self._slots = asyncio.Semaphore(self.limits.concurrency)

    async def export(self, parts: Sequence[tuple[Path, float, float]], container: str,
                     out: Path) -> ExportResult:
        """Remux `parts` ((path, start seconds since epoch, duration)) into `out`."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.queue_seconds)
        except TimeoutError:
            raise ExportBusy("导出任务繁忙，请稍后再试。Other exports are running; try again in a "
                             "minute.") from None
        try:
            return await self._run(parts, container, out)
        finally:
            self._slots.release()

    async def _run(self, parts: Sequence[tuple[Path, float, float]], container: str,
                   out: Path) -> ExportResult:
        job = {"parts": [[str(p), s, d] for p, s, d in parts], "container": container,
               "out": str(out), "max_bytes": self.limits.max_bytes,
               "max_seconds": self.limits.timeout_seconds}
        proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await asyncio.wait_for(
                proc.communicate(json.dumps(job).encode()), self.limits.timeout_seconds)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            metrics.EXPORTS.labels("timeout").inc()
            out.unlink(missing_ok=True)
            raise ExportFailed(f"导出超时（{self.limits.timeout_seconds:.0f} 秒），请分段下载片段。"
                               "The export took too long and was stopped; download the segments "
                               "instead.") from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            out.unlink(missing_ok=True)
            raise
        code = proc.returncode
        if code == 0:
            metrics.EXPORTS.labels("ok").inc()
            try:
                report = json.loads(stdout.decode() or "{}")
            except ValueError:
                report = {}
            return ExportResult(out, report)
        out.unlink(missing_ok=True)
        reason = stderr.decode(errors="replace").strip().splitlines()
        if code == 3:
            metrics.EXPORTS.labels("unplayable").inc()
            raise ExportFailed(reason[-1] if reason else "没有可导出的内容。Nothing to export.")
        if code == 4 or (code is not None and code < 0 and -code == signal.SIGXFSZ):
            metrics.EXPORTS.labels("too_large").inc()
            raise ExportFailed(f"导出文件超过上限（{self.limits.max_bytes // 2**20} MiB），请分段下载。"
                               "The export grew past its size limit; download the segments instead.")
        metrics.EXPORTS.labels("crashed").inc()
        what = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        log.warning("export process failed (%s): %s", what, " | ".join(reason[-3:]))
        raise ExportFailed(f"该会议的录像片段无法合成一个文件（导出进程 {what}），请分段下载片段。"
                           f"These segments could not be put into one file (the export process "
                           f"ended with {what}); download the segments one by one.")
