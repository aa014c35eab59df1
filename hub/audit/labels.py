"""What an audit entry means in words: the Chinese (and English) name of
each action code and of the detail's keys, for the audit page and its CSV.

The codes stay the machine's (filters, IT, scripts); these are the words a
county's staff read. An action or key missing here still shows, as its code.
"""

from __future__ import annotations

from typing import Any

ACTIONS: dict[str, tuple[str, str]] = {
    "login": ("登录", "Signed in"),
    "logout": ("退出", "Signed out"),
    "login_failed": ("登录失败", "Sign-in failed"),
    "password_changed": ("修改密码", "Password changed"),
    "org_unit_created": ("新建单位", "Unit created"),
    "org_unit_updated": ("修改单位", "Unit changed"),
    "org_unit_moved": ("移动单位", "Unit moved"),
    "org_unit_deactivated": ("停用单位", "Unit deactivated"),
    "member_created": ("新增党员", "Member added"),
    "member_updated": ("修改党员", "Member changed"),
    "roster_imported": ("导入花名册", "Roster imported"),
    "roster_rows_imported": ("重新提交花名册行", "Roster rows sent again"),
    "device_registered": ("登记设备", "Device registered"),
    "device_reenrolled": ("更换主机", "Device re-enrolled"),
    "device_revoked": ("吊销设备", "Device revoked"),
    "device_enrolled": ("设备注册", "Device enrolled"),
    "operator_created": ("新建操作员", "Operator created"),
    "operator_updated": ("修改操作员", "Operator changed"),
    "operator_deactivated": ("停用操作员", "Operator deactivated"),
    "operator_password_reset": ("重置密码", "Password reset"),
    "meeting_scheduled": ("安排会议", "Meeting scheduled"),
    "meeting_edited": ("修改会议", "Meeting changed"),
    "meeting_cancelled": ("取消会议", "Meeting cancelled"),
    "meeting_started": ("开始会议", "Meeting started"),
    "meeting_ended": ("结束会议", "Meeting ended"),
    "meeting_notice_sent": ("发送会议通知", "Meeting notice sent"),
    "leave_filed": ("登记请假", "Leave filed"),
    "checkin_staff": ("工作人员确认签到", "Staff check-in"),
    "audit_exported": ("导出审计日志", "Audit exported"),
    "fingerprint_backed_up": ("备份指纹", "Fingerprint backed up"),
    "fingerprint_enrolment_deleted": ("删除指纹录入", "Fingerprint enrolment deleted"),
    "fingerprint_slot_deleted": ("删除指纹编号", "Fingerprint slot deleted"),
    "fingerprints_restored": ("恢复指纹库", "Fingerprints restored"),
    "household_ledger_imported": ("导入走访台账", "Household ledger imported"),
    "inspection_scored": ("督查评分", "Inspection scored"),
    "notice_deleted": ("删除通报", "Notice deleted"),
    "notice_drafted": ("起草通报", "Notice drafted"),
    "notice_exported": ("导出通报", "Notice exported"),
    "notice_published": ("发布通报", "Notice published"),
    "notification_retried": ("重发通知", "Notification retried"),
    "plan_filed": ("报送计划", "Plan filed"),
    "plan_revised": ("修改计划", "Plan revised"),
    "plan_submitted": ("提交计划", "Plan submitted"),
    "plan_approved": ("计划通过", "Plan approved"),
    "plan_returned": ("计划退回", "Plan returned"),
    "plan_resubmitted": ("重新提交计划", "Plan resubmitted"),
    "rankings_exported": ("导出排名", "Rankings exported"),
    "rectification_closed": ("整改销号", "Rectification closed"),
    "rectification_evidence_added": ("上传整改材料", "Rectification evidence added"),
    "rectification_exported": ("导出整改台账", "Rectification ledger exported"),
    "rectification_opened": ("新建整改事项", "Rectification opened"),
    "rectification_updated": ("修改整改事项", "Rectification updated"),
    "reminder_sent": ("发送提醒", "Reminder sent"),
    "report_exported": ("导出报表", "Report exported"),
    "score_template_created": ("新建评分表", "Score sheet created"),
    "spot_check_call_recorded": ("记录抽查电话", "Spot-check call recorded"),
    "spot_check_confirmed": ("确认抽查", "Spot check confirmed"),
    "spot_check_drawn": ("抽取抽查名单", "Spot check drawn"),
    "spot_check_exported": ("导出抽查", "Spot check exported"),
    "recording.export": ("导出录像", "Recording exported"),
    "recording.flag": ("标记录像待核查", "Recording flagged"),
    "recording.unflag": ("取消录像标记", "Recording unflagged"),
    "media.watch.start": ("开始观看直播", "Started watching live"),
    "media.watch.stop": ("停止观看直播", "Stopped watching live"),
    "media.talkback.start": ("开始对讲", "Talkback started"),
    "media.talkback.stop": ("结束对讲", "Talkback ended"),
}

# Keys of `detail` as the routes write them (a body's fields among them).
DETAIL_KEYS: dict[str, tuple[str, str]] = {
    "action": ("操作", "action"), "active": ("启用", "active"), "actor": ("操作人", "actor"),
    "branch_id": ("支部", "branch"), "channels": ("渠道", "channels"), "committee": ("支委", "committee"),
    "committee_role": ("支委职务", "committee role"), "created": ("新增", "created"), "deadline": ("期限", "deadline"),
    "deductions": ("扣分项", "deductions"), "description": ("说明", "description"), "detail": ("说明", "detail"),
    "errors": ("错误", "errors"), "excused": ("免计到会人数", "excused"), "excused_reason": ("免计原因", "excused reason"),
    "file": ("文件", "file"), "finger": ("手指", "finger"), "items": ("条目数", "items"), "kind": ("类型", "kind"),
    "meeting_id": ("会议", "meeting"), "meeting_type": ("会议类型", "meeting type"), "member_id": ("党员", "member"),
    "member_no": ("党员编号", "member no."), "month": ("月份", "month"), "name": ("名称", "name"),
    "parent_id": ("上级单位", "parent unit"), "phone": ("电话", "phone"), "population_hash": ("名单校验值", "list hash"),
    "reason": ("事由", "reason"), "revision": ("版本", "revision"), "role": ("角色", "role"), "rows": ("行数", "rows"),
    "scheduled_start": ("计划开始", "scheduled start"), "scope_id": ("管辖单位", "scope"), "seed": ("随机种子", "seed"),
    "sha256": ("校验值", "SHA-256"), "since": ("起", "since"), "size": ("数量", "size"), "skipped": ("跳过", "skipped"),
    "slot": ("指纹编号", "slot"), "slots": ("指纹编号", "slots"), "status": ("状态", "status"),
    "template_id": ("评分表", "score sheet"), "templates": ("指纹模板数", "templates"), "text": ("内容", "text"),
    "title": ("标题", "title"), "topic": ("议题", "topic"), "total": ("总分", "total"), "unit_id": ("单位", "unit"),
    "until": ("止", "until"), "updated": ("更新", "updated"), "username": ("用户名", "user name"), "year": ("年度", "year"),
}

_YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}


def action_label(code: str, lang: str = "zh") -> str:
    """The action in words; an unknown code as itself."""
    entry = ACTIONS.get(code)
    return code if entry is None else entry[0 if lang == "zh" else 1]


def _value(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return _YES_NO[lang][0 if value else 1]
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ("、" if lang == "zh" else ", ").join(_value(v, lang) for v in value)
    if isinstance(value, dict):
        inner = describe(value, lang)
        return f"（{inner}）" if lang == "zh" else f"({inner})"
    return str(value)


def describe(detail: dict[str, Any] | None, lang: str = "zh") -> str:
    """The detail as "事由：外出务工；党员：12" (or English), keys in words."""
    sep, colon = ("；", "：") if lang == "zh" else ("; ", ": ")
    parts = []
    for key, value in (detail or {}).items():
        entry = DETAIL_KEYS.get(key)
        parts.append(f"{key if entry is None else entry[0 if lang == 'zh' else 1]}{colon}{_value(value, lang)}")
    return sep.join(parts)
