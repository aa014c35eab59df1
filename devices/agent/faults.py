"""Faults of the hall PC, read from its health: one list for the heartbeat and the kiosk.

Each fault has a `code`, Chinese text for the hall screen and English for
logs and the county operators, and says what to do next. Recovery is the
components' own business (the camera reopens with backoff, the publisher
and the uplink reconnect, the recorder resumes when uploads free room);
this module only names what is wrong now.

`ClockWatch` notices the wall clock jumping (an NTP correction after a
cold boot, an operator setting the time): intervals everywhere use
time.monotonic(), so a jump changes only labels, but the operators should
know that times written around it may be off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class ClockWatch:
    threshold_s: float = 2.0
    _offset: float | None = None
    last_jump_s: float = 0.0
    last_jump_at: float | None = None  # wall clock after the jump
    jumps: int = 0

    def check(self) -> float:
        """Compare wall and monotonic clocks; return the jump seen now (0 if none)."""
        offset = time.time() - time.monotonic()
        if self._offset is None:
            self._offset = offset
            return 0.0
        jump = offset - self._offset
        self._offset = offset
        if abs(jump) >= self.threshold_s:
            self.jumps += 1
            self.last_jump_s = round(jump, 1)
            self.last_jump_at = time.time()
            return jump
        return 0.0

    def status(self, recent_s: float = 600.0) -> dict[str, Any]:
        recent = self.last_jump_at is not None and time.time() - self.last_jump_at < recent_s
        return {"jumps": self.jumps, "last_jump_s": self.last_jump_s if self.jumps else None,
                "recent": recent}


def _fault(code: str, zh: str, en: str) -> dict[str, str]:
    return {"code": code, "zh": zh, "en": en}


def collect_faults(health: dict[str, Any], *, uplink_state: str | None = None) -> list[dict[str, str]]:
    """What is wrong now, from the agent's health dict (see EdgeApp._health)."""
    out: list[dict[str, str]] = []
    camera = health.get("camera") or {}
    state = camera.get("state")
    if state in ("lost", "stalled"):
        out.append(_fault("camera_lost", "摄像头无画面，正在重连；请检查摄像头电源和网线",
                          f"camera {state}: {camera.get('error') or 'no picture'}; reconnecting, "
                          "check its power and cable"))
    elif state == "black":
        out.append(_fault("camera_black", "摄像头画面全黑；请检查镜头盖和会场照明",
                          "camera picture is black; check the lens cap and the hall lights"))
    microphone = health.get("microphone") or {}
    if microphone.get("state") in ("lost", "stalled"):
        out.append(_fault("microphone_lost", "麦克风无输入，县里听不到会场声音；请检查麦克风连接",
                          f"microphone {microphone.get('state')}: {microphone.get('error') or 'no sound'}"))
    if (health.get("speaker") or {}).get("state") == "failed":
        out.append(_fault("speaker_failed", "音箱无法播放县里讲话；请检查音箱连接和音量",
                          health["speaker"].get("error") or "the speaker cannot play the talkback"))
    publisher = health.get("publisher") or {}
    if publisher.get("token_rejected") or uplink_state == "auth_failed":
        out.append(_fault("token_refused", "县中心拒绝本设备的令牌；请联系管理员重新注册设备",
                          "the hub refused the device token; re-enrol this device"))
    recorder = health.get("recorder") or {}
    if recorder.get("state") == "disk_full":
        out.append(_fault("disk_full", "本地存储已满，已暂停本地录像；网络恢复后上传完成即自动继续",
                          recorder.get("error") or "local recording stopped: disk budget full"))
    elif recorder.get("state") == "failed":
        out.append(_fault("recording_failed", "本地录像写入失败；请检查存储",
                          recorder.get("error") or "local recording failed"))
    backfill = health.get("backfill") or {}
    if backfill.get("state") == "auth_failed":
        out.append(_fault("upload_refused", "录像补传被县中心拒绝；请联系管理员",
                          backfill.get("error") or "segment upload refused"))
    if backfill.get("rejected_segments"):
        out.append(_fault("upload_rejected", "有录像片段被县中心拒收，已保留在本机",
                          f"{backfill['rejected_segments']} segment(s) refused by the hub, kept here"))
    if health.get("reader") == "fault":
        out.append(_fault("reader_fault", "指纹仪故障；可由管理员代签到",
                          "fingerprint reader fault; staff check-in still works"))
    storage = health.get("storage") or {}
    if storage.get("unstored_checkins"):
        names = "、".join(str(n) for n in storage["unstored_checkins"][-5:] if n)
        out.append(_fault("checkin_not_stored", f"磁盘已满，签到未能保存，请工作人员手工登记：{names}",
                          f"disk full: check-ins not saved ({names}); register them by hand and free space"))
    elif storage.get("reserve_used"):
        out.append(_fault("checkin_reserve_used", "磁盘已满，签到正在使用预留空间；请清理存储",
                          "disk full: check-ins use the reserved space; free some space"))
    clock = health.get("clock") or {}
    if clock.get("recent"):
        out.append(_fault("clock_jump", f"系统时间跳变 {clock.get('last_jump_s')} 秒；请检查时间同步",
                          f"the wall clock jumped by {clock.get('last_jump_s')} s; check time sync"))
    return out
