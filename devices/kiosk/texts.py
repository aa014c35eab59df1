"""Every string the kiosk shows, Chinese first, English second.

One table used by both the server-rendered page and the browser script
(embedded as JSON), so the two never disagree.
"""

from __future__ import annotations

from typing import Any

from devices.agent.meeting import MEETING_TYPES

LANGS = ("zh", "en")

PROMPTS: dict[str, tuple[str, str]] = {
    "press_finger": ("请按手指", "Press a finger"),
    "no_meeting": ("会议尚未开始", "No meeting open"),
    "reader_fault": ("读卡器故障，请联系工作人员", "Reader fault, call staff"),
    "no_reader": ("请工作人员代为签到", "Staff check-in only"),
    "checked_in": ("签到成功", "Checked in"),
    "already_checked_in": ("已签到", "Already checked in"),
    "not_a_member": ("非本支部党员", "Not a member of this branch"),
    "not_recognised": ("未识别，请重试或换一个手指", "Not recognised, try again or another finger"),
    "poor_image": ("请把手指放平，再按一次", "Place the finger flat and press again"),
    "read_failed": ("读取失败，请再按一次", "Could not read the finger, press again"),
    "ask_staff": ("多次未能识别，请工作人员代为签到", "Not read after several tries: staff will check you in"),
    "library_full": ("指纹库已满，请联系县里删除不再使用的指纹", "Fingerprint library full: ask the county to delete unused fingers"),
    "restore_done": ("指纹已恢复", "Fingerprints restored"),
    "restore_failed": ("指纹恢复失败，请检查网络后重试", "Restore failed: check the network and try again"),
    "restoring": ("正在恢复指纹，请稍候", "Restoring fingerprints, please wait"),
    "store_failed": ("签到未能保存，请找工作人员登记", "Check-in could not be saved: please see staff to register"),
    "reason_required": ("请填写代签原因", "Enter a reason for staff check-in"),
    "enrol_press": ("录入指纹：请按手指", "Enrolment: press the finger"),
    "enrol_lift": ("请抬起手指", "Lift the finger"),
    "enrol_again": ("请再按同一个手指", "Press the same finger again"),
    "enrol_done": ("指纹录入成功", "Finger enrolled"),
    "enrol_failed": ("录入失败，请重试", "Enrolment failed, try again"),
}

UPLINK: dict[str, tuple[str, str]] = {
    "online": ("在线", "Online"),
    "offline": ("离线", "Offline"),
    "connecting": ("正在连接", "Connecting"),
    "handshake": ("正在连接", "Connecting"),
    "enrolling": ("正在注册设备", "Enrolling device"),
    "enrolment_failed": ("设备未注册，请联系县里", "Device not enrolled, call the county"),
    "auth_failed": ("设备认证失败，请联系县里", "Device token refused, call the county"),
    "stopped": ("已停止", "Stopped"),
}

LABELS: dict[str, tuple[str, str]] = {
    "title": ("支部会议签到", "Branch meeting check-in"),
    "elapsed": ("已进行", "Elapsed"),
    "checked_in_count": ("已签到", "Checked in"),
    "expected": ("应到", "Expected"),
    "last": ("最近签到", "Last check-in"),
    "pending": ("待上传", "Waiting to upload"),
    "late": ("迟到", "Late"),
    "staff": ("代签", "Staff"),
    "rejected": ("县里未接收", "Refused by the county"),
    "admin": ("管理", "Admin"),
    "lang": ("English", "中文"),
    "pin": ("请输入管理密码", "Enter the admin PIN"),
    "ok": ("确定", "OK"),
    "cancel": ("取消", "Cancel"),
    "logout": ("退出管理", "Leave admin"),
    "start_meeting": ("开始会议", "Start meeting"),
    "end_meeting": ("结束会议", "End meeting"),
    "topic": ("会议主题", "Topic"),
    "type": ("会议类型", "Meeting type"),
    "staff_checkin": ("代签到", "Staff check-in"),
    "reason": ("原因", "Reason"),
    "enrol": ("录入指纹", "Enrol finger"),
    "restore_fingerprints": ("恢复指纹", "Restore fingerprints"),
    "dismiss": ("知道了", "Dismiss"),
    "cancel_restore": ("取消恢复", "Cancel restore"),
    "present": ("实到", "Present"),
    "on_leave": ("请假", "On leave"),
    "quorum": ("法定人数", "Quorum"),
    "quorum_met": ("已达到", "met"),
    "quorum_not": ("未达到", "not met"),
    "scheduled": ("县里安排", "Scheduled"),
    "start_scheduled": ("开始这场会议", "Start this meeting"),
    "file_leave": ("登记请假", "File leave"),
    "unstored": ("未能保存的签到，请手工登记", "Check-ins not saved: register them by hand"),
    "minutes": ("分钟", "min"),
    "no_meeting_title": ("当前没有会议", "No meeting"),
}

ERROR_CODES: dict[str, tuple[str, str]] = {
    "unknown_member": ("县里无此党员", "Unknown member"),
    "not_in_branch": ("非本支部党员", "Not in this branch"),
    "meeting_not_open": ("会议未开始", "Meeting not open"),
    "unknown_meeting": ("县里无此会议", "Unknown meeting"),
    "already_checked_in": ("已签到", "Already checked in"),
    "reason_required": ("缺少代签原因", "Reason required"),
    "bad_message": ("数据有误", "Bad message"),
    # refusals of the secretary's actions in admin mode (devices/kiosk/app.py)
    "wrong_pin": ("管理密码错误，请重新输入", "Wrong PIN: try again"),
    "pin_locked": ("密码错误次数过多，请一分钟后再试", "Too many wrong PINs: wait a minute and try again"),
    "admin_locked": ("管理模式已锁定，请先输入管理密码", "Admin mode is locked: enter the PIN"),
    "meeting_refused": ("当前会议状态下不能这样操作", "Not allowed in the meeting's current state"),
    "meeting_already_open": ("已有会议在进行，请先结束它", "A meeting is already open: end it first"),
    "unknown_meeting_type": ("会议类型不在列表中，请从列表中选择", "Unknown meeting type: choose one from the list"),
    "topic_required": ("请填写会议主题", "The meeting needs a topic"),
    "not_scheduled": ("该会议已不在计划中，请刷新后重新选择", "No longer on the schedule: refresh and pick again"),
    "not_on_roster": ("花名册中没有此党员，请刷新花名册", "Not on the roster: refresh the roster"),
    "leave_after_checkin": ("该党员已签到，无需请假", "Already checked in: no leave needed"),
    "leave_reason_required": ("请填写请假事由", "A leave request needs a reason"),
    "reader_unavailable": ("指纹仪未就绪，请检查连接", "The fingerprint reader is not ready: check its cable"),
    "enrol_busy": ("正在录入另一枚指纹，请稍候", "Another enrolment is running: wait for it to finish"),
    "hub_unreachable": ("暂时无法连接县里，请稍后再试", "The county hub cannot be reached: try again later"),
    "bad_request": ("填写的内容有误，请检查", "Something entered is not valid: check it"),
    "agent_fault": ("会场主机出错，请联系县里技术人员", "The hall PC failed: call the county's IT staff"),
}


def zh(table: dict[str, tuple[str, str]], key: str) -> str:
    return table.get(key, (key, key))[0]


def bundle() -> dict[str, Any]:
    """All texts as `{lang: {section: {key: text}}}` for the browser script."""
    tables = {"prompts": PROMPTS, "uplink": UPLINK, "labels": LABELS,
              "errors": ERROR_CODES, "meeting_types": MEETING_TYPES}
    return {
        lang: {name: {k: v[i] for k, v in table.items()} for name, table in tables.items()}
        for i, lang in enumerate(LANGS)
    }
