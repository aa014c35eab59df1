"""The kiosk page, rendered on the server from the hall's snapshot so it is
right before any script runs; `static/kiosk.js` then keeps it live."""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any

from devices.kiosk.texts import LABELS, PROMPTS, UPLINK, bundle, zh

_TONE = {
    "checked_in": "good", "enrol_done": "good",
    "already_checked_in": "info",
    "not_recognised": "warn", "poor_image": "warn", "reason_required": "warn",
    "enrol_failed": "warn", "no_meeting": "idle", "no_reader": "idle",
    "not_a_member": "bad", "reader_fault": "bad",
    "read_failed": "warn", "ask_staff": "bad", "library_full": "bad",
    "restore_done": "good", "restore_failed": "warn", "restoring": "info", "store_failed": "bad",
}


def pill_class(uplink: dict[str, Any]) -> str:
    """The status pill's colour: green only when online with nothing wrong;
    amber while a device fault is shown; red offline (static/kiosk.js too)."""
    if not uplink.get("online"):
        return "offline"
    return "online fault" if uplink.get("faults") else "online"


def _clock(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%H:%M", time.localtime(ts))


def _hall_html(snapshot: dict[str, Any]) -> str:
    """The numbers the county sees (实到/应到/请假/法定人数), the schedule, the
    staff alerts; server-rendered, then kept live by static/hall.js."""
    att = snapshot.get("attendance") or {}
    q = att.get("quorum") or {}
    shown = bool(snapshot.get("meeting") and att)
    quorum_html = ""
    if q and q.get("rule") != "none":
        met = zh(LABELS, "quorum_met" if q.get("met") else "quorum_not")
        quorum_html = f'{zh(LABELS, "quorum")} {q.get("present")}/{q.get("required")} {met}'
    return f"""  <section id="hall">
    <div id="attendance"{"" if shown else " hidden"}>{zh(LABELS, "present")} <b id="att-present">{att.get("present", 0)}</b>
      / {zh(LABELS, "expected")} <b id="att-expected">{att.get("expected", 0)}</b>
      · {zh(LABELS, "on_leave")} <b id="att-leave">{att.get("on_leave", 0)}</b>
      · <span id="att-quorum" data-met="{str(bool(q.get("met"))).lower()}"{"" if quorum_html else " hidden"}>{quorum_html}</span></div>
    <ul id="schedule" hidden></ul>
    <div id="fp-status" hidden></div>
    <ul id="unstored" hidden></ul>
  </section>"""


def render(snapshot: dict[str, Any]) -> str:
    meeting = snapshot.get("meeting")
    prompt = snapshot["prompt"]
    last = snapshot.get("last_checkin")
    uplink = snapshot["uplink"]
    code = prompt["code"]
    prompt_text = zh(PROMPTS, code)
    if prompt.get("name"):
        prompt_text = f"{prompt['name']}，{prompt_text}"
    if meeting:
        meeting_html = (
            f'<span id="m-type">{escape(meeting["type_zh"])}</span>'
            f'<span id="m-topic">{escape(meeting["topic"])}</span>'
            f'<span id="m-elapsed" data-start="{meeting["started_at"]}"></span>'
        )
    else:
        meeting_html = f'<span id="m-type">{zh(LABELS, "no_meeting_title")}</span>'
    last_html = ""
    if last:
        tags = []
        if last.get("late"):
            tags.append(zh(LABELS, "late"))
        if last.get("method") == "staff":
            tags.append(zh(LABELS, "staff"))
        tag_html = "".join(f'<span class="tag">{t}</span>' for t in tags)
        last_html = (
            f'{zh(LABELS, "last")}：<b id="last-name">{escape(last["name"])}</b> '
            f'<span id="last-time">{_clock(last["at"])}</span>{tag_html}'
        )
    online = pill_class(uplink)
    uplink_text = zh(UPLINK, uplink.get("state", "offline"))
    if uplink.get("pending"):
        uplink_text += f" · {zh(LABELS, 'pending')} {uplink['pending']}"
    for fault in uplink.get("faults") or []:
        uplink_text += f" · ⚠ {escape(str(fault.get('zh') or ''))}"
    rejected = "".join(
        f'<li>{escape(r.get("name") or r["type"])}：{escape(r.get("code") or "")}</li>'
        for r in snapshot.get("rejected", [])
    )
    att = snapshot.get("attendance") or {}
    boot = json.dumps({"snapshot": snapshot, "texts": bundle()}, ensure_ascii=False)
    boot = boot.replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{zh(LABELS, "title")}</title>
<link rel="stylesheet" href="/static/kiosk.css">
</head>
<body>
<header>
  <div id="meeting">{meeting_html}</div>
  <div id="uplink" class="{online}">{uplink_text}</div>
  <button id="lang" type="button">{zh(LABELS, "lang")}</button>
  <button id="admin-open" type="button">{zh(LABELS, "admin")}</button>
</header>
<main>
  <section id="prompt" class="tone-{_TONE.get(code, "idle")}" data-code="{code}">{escape(prompt_text)}</section>
  <section id="status">
    <div id="last">{last_html}</div>
    <div id="count"><span id="count-label">{zh(LABELS, "checked_in_count")}</span>
      <b id="count-n">{att.get("present", snapshot["checked_in"])}</b> / <span id="count-total">{att.get("expected", snapshot["roster_expected"])}</span></div>
  </section>
{_hall_html(snapshot)}
  <ul id="rejected">{rejected}</ul>
</main>
<div id="admin" hidden>
  <form id="pin-form">
    <label for="pin">{zh(LABELS, "pin")}</label>
    <input id="pin" type="password" inputmode="numeric" autocomplete="off">
    <button type="submit">{zh(LABELS, "ok")}</button>
    <button type="button" class="close">{zh(LABELS, "cancel")}</button>
    <p class="error"></p>
  </form>
  <div id="admin-panel" hidden>
    <form id="meeting-form">
      <select id="meeting-type"></select>
      <input id="meeting-topic" type="text">
      <button type="submit" id="meeting-start"></button>
      <button type="button" id="meeting-end"></button>
    </form>
    <div id="admin-hall"><ul id="schedule-admin"></ul><div id="fp-admin"></div><div id="unstored-admin"></div></div>
    <form id="leave-form" hidden>
      <select id="leave-member"></select>
      <input id="leave-reason" type="text">
      <button type="submit" id="leave-submit">{zh(LABELS, "file_leave")}</button>
    </form>
    <p class="error" id="admin-error"></p>
    <table id="members"></table>
    <button type="button" id="admin-close">{zh(LABELS, "logout")}</button>
  </div>
</div>
<script id="boot" type="application/json">{boot}</script>
<script src="/static/kiosk.js"></script>
<script src="/static/hall.js"></script>
</body>
</html>
"""
