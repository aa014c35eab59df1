// Chinese first, English on request; the choice persists in localStorage.
import wall from "./i18n/wall.js";

const KEY = "bl.lang";

const DICT = {
  zh: {
    app_title: "党支部组织生活远程监管平台",
    nav_wall: "大屏", nav_rotation: "轮巡", nav_playback: "回放", nav_supervision: "督查整改", logout: "退出",
    login_title: "登录控制中心", username: "用户名", password: "密码", sign_in: "登录",
    login_bad: "用户名或密码错误", login_limited: "尝试次数过多，请稍后再试", login_failed: "登录失败：{detail}",
    pw_title: "请先设置您自己的密码", pw_current: "当前密码", pw_new: "新密码（至少 8 位）", pw_save: "保存并进入",
    pw_wrong: "当前密码不正确", pw_failed: "未能修改密码：{detail}",
    feed_down: "与中心的实时连接已断开，正在重连（第 {n} 次）… 画面与状态可能已过时",
    feed_connecting: "正在连接…",
    st_live: "直播中", st_stalled: "视频中断", st_scheduled: "待开会", st_idle: "空闲", st_offline: "离线",
    all_townships: "全部乡镇", all_states: "全部状态", search_ph: "搜索支部名称（/）",
    sort_state: "按状态排序", sort_name: "按名称排序", group_town: "按乡镇分组", alerts_only: "只看告警",
    tiles_count: "显示 {shown} / 共 {total} 个支部",
    checked_in: "签到", roster: "应到", quorum_met: "已达法定人数", quorum_not: "未达法定人数",
    present: "实到", expected: "应到", on_leave: "请假", quorum: "法定人数", quorum_yes: "已达到", quorum_no: "未达到",
    no_meeting: "无会议", next_meeting: "计划 {time}", thumb_none: "暂无画面", thumb_stale: "画面已停 {age}",
    al_device_offline: "设备离线", al_stream_down: "视频中断", al_headcount_low: "人数异常", al_meeting_overdue: "逾期未开",
    back: "返回", live_view: "实时画面", media_unavailable: "实时视频不可用：{detail}",
    media_connecting: "正在连接实时视频…", media_no_route: "媒体服务未启用或尚未上线",
    media_failed: "视频连接失败", ptt: "按住说话（空格）", ptt_on: "正在对讲…", ptt_nomic: "无麦克风，无法对讲",
    attendance: "签到名单", absent: "未到", late: "迟到", staff: "工作人员确认", fingerprint: "指纹",
    no_checkins: "尚无签到", meeting_none: "当前没有进行中的会议",
    note_title: "督查记录（生成整改事项）", problem: "发现问题", measures: "整改措施", deadline: "整改期限",
    responsible: "责任人", submit_note: "提交整改事项", note_saved: "已提交整改事项 #{id}",
    note_404: "整改事项接口尚未上线，记录未保存。请先复制内容，稍后再提交。",
    note_failed: "提交失败：{detail}", field_required: "请填写：{field}",
    recent_meetings: "近期会议", open_playback: "回放",
    rot_title: "轮巡", rot_grid: "画面布局", rot_interval: "间隔（秒）", rot_pause: "暂停（p）", rot_resume: "继续（p）",
    rot_page: "第 {page} / {pages} 页", rot_empty: "当前没有进行中的会议", rot_thumb: "缩略图",
    pb_title: "会议回放", pb_pick: "选择会议", pb_export: "导出 MP4", pb_none: "该会议没有录像：{detail}",
    pb_gap: "未录制 {s} 秒", pb_checkins: "签到记录（点击跳转）", pb_segments: "{n} 段录像，{gaps} 处中断",
    pb_integrity: "已录 {covered} 秒，损坏片段 {rejected} 段，重复片段 {duplicates} 段已去除",
    pb_why_no_uplink: "会场断网", pb_why_hub_restart: "中心重启", pb_why_disk_full: "中心磁盘已满",
    pb_why_rejected: "片段损坏", pb_why_failed: "写入失败",
    pb_list_empty: "没有会议记录", pb_status_ended: "已结束", pb_status_live: "进行中", pb_status_scheduled: "计划中",
    help_title: "快捷键", help_search: "搜索支部", help_rotation: "进入 / 退出轮巡", help_back: "返回大屏",
    help_ptt: "按住对讲（支部画面）", help_help: "显示本帮助", help_pause: "暂停 / 继续轮巡", help_pages: "上一页 / 下一页",
    help_lang: "切换语言",
    error_http: "请求失败（{status}）：{detail}",
    lang_switch: "English",
  },
  en: {
    app_title: "Branch Meeting Supervision",
    nav_wall: "Wall", nav_rotation: "Rotation", nav_playback: "Playback", nav_supervision: "Supervision", logout: "Sign out",
    login_title: "Sign in to the control centre", username: "User name", password: "Password", sign_in: "Sign in",
    login_bad: "Wrong user name or password", login_limited: "Too many attempts; wait a minute", login_failed: "Sign-in failed: {detail}",
    pw_title: "Choose your own password first", pw_current: "Current password", pw_new: "New password (8 characters or more)",
    pw_save: "Save and continue", pw_wrong: "The current password is wrong", pw_failed: "The password was not changed: {detail}",
    feed_down: "Live link to the hub lost; reconnecting (attempt {n})… pictures and states may be out of date",
    feed_connecting: "Connecting…",
    st_live: "Live", st_stalled: "Video down", st_scheduled: "Scheduled", st_idle: "Idle", st_offline: "Offline",
    all_townships: "All townships", all_states: "All states", search_ph: "Search branch (/)",
    sort_state: "Sort by state", sort_name: "Sort by name", group_town: "Group by township", alerts_only: "Alerts only",
    tiles_count: "{shown} of {total} branches",
    checked_in: "Checked in", roster: "roster", quorum_met: "quorum met", quorum_not: "no quorum",
    present: "Present", expected: "expected", on_leave: "on leave", quorum: "quorum", quorum_yes: "met", quorum_no: "not met",
    no_meeting: "No meeting", next_meeting: "Due {time}", thumb_none: "No picture yet", thumb_stale: "Picture stopped {age}",
    al_device_offline: "Device offline", al_stream_down: "Video down", al_headcount_low: "Headcount low", al_meeting_overdue: "Overdue",
    back: "Back", live_view: "Live view", media_unavailable: "Live video unavailable: {detail}",
    media_connecting: "Connecting live video…", media_no_route: "the media plane is off or not installed",
    media_failed: "Video connection failed", ptt: "Hold to talk (Space)", ptt_on: "Talking…", ptt_nomic: "No microphone: talkback unavailable",
    attendance: "Check-ins", absent: "Absent", late: "late", staff: "staff-confirmed", fingerprint: "fingerprint",
    no_checkins: "No check-ins yet", meeting_none: "No meeting in progress",
    note_title: "Inspection note (becomes a rectification item)", problem: "Problem found", measures: "Measures",
    deadline: "Deadline", responsible: "Responsible person", submit_note: "Create rectification item",
    note_saved: "Rectification item #{id} created",
    note_404: "The rectification API is not available yet; nothing was saved. Copy your text and submit later.",
    note_failed: "Could not submit: {detail}", field_required: "Please fill in: {field}",
    recent_meetings: "Recent meetings", open_playback: "Play",
    rot_title: "Rotation", rot_grid: "Layout", rot_interval: "Every (s)", rot_pause: "Pause (p)", rot_resume: "Resume (p)",
    rot_page: "Page {page} / {pages}", rot_empty: "No meeting in progress", rot_thumb: "thumbnail",
    pb_title: "Meeting playback", pb_pick: "Choose a meeting", pb_export: "Export MP4", pb_none: "No recording for this meeting: {detail}",
    pb_gap: "{s} s not recorded", pb_checkins: "Check-ins (click to jump)", pb_segments: "{n} segments, {gaps} gaps",
    pb_integrity: "{covered} s recorded, {rejected} damaged segments rejected, {duplicates} duplicates dropped",
    pb_why_no_uplink: "hall offline", pb_why_hub_restart: "hub restarted", pb_why_disk_full: "hub disk full",
    pb_why_rejected: "damaged segment", pb_why_failed: "write failed",
    pb_list_empty: "No meetings", pb_status_ended: "ended", pb_status_live: "live", pb_status_scheduled: "scheduled",
    help_title: "Keyboard shortcuts", help_search: "Search branches", help_rotation: "Rotation on / off", help_back: "Back to the wall",
    help_ptt: "Hold to talk (branch view)", help_help: "Show this help", help_pause: "Pause / resume rotation", help_pages: "Previous / next page",
    help_lang: "Switch language",
    error_http: "Request failed ({status}): {detail}",
    lang_switch: "中文",
  },
};

// Until the shell takes over: the wall area's dictionary fills in its keys.
for (const [k, [zh, en]] of Object.entries(wall)) { DICT.zh[k] ??= zh; DICT.en[k] ??= en; }

let lang = localStorage.getItem(KEY) === "en" ? "en" : "zh";
const listeners = new Set();

export function currentLang() { return lang; }

export function t(key, vars) {
  let s = DICT[lang][key] ?? DICT.zh[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
  return s;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(KEY, lang);
  applyStatic(document);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.add(fn); }

/** Fill every element marked data-i18n (text) or data-i18n-ph (placeholder). */
export function applyStatic(root) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("app_title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
