"""Compliance on constructed histories, through the API and the scheduler."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.organisations.models import OrgUnit
from hub.supervision.compliance import scheduler
from hub.supervision.compliance.models import ComplianceAlert
from hub.supervision.compliance.recording import meeting_has_recording, meetings_with_recording
from hub.supervision.config import SupervisionSettings
from hub.supervision.notifications.models import Notification
from tests.hub.conftest import County
from tests.hub.supervision.conftest import add_meeting, local, sessions

MOVES = SupervisionSettings(theme_day_moves={date(2024, 10, 5): date(2024, 10, 8)}, headcount_min_checkins=2)


def history(client: TestClient, county: County) -> dict[str, str]:
    b = county.branches["东城一村"]
    zs, ls, ww = county.members["张三"], county.members["李四"], county.members["王五"]
    with sessions(client)() as s:
        ids = {
            "q1": add_meeting(s, branch_id=b, meeting_type="general_meeting", start=local(2024, 2, 20), present=[zs, ls], recorded=True).id,
            # Two in the room, but 王五 is probationary: one voting member of two.
            "q2": add_meeting(s, branch_id=b, meeting_type="general_meeting", start=local(2024, 5, 20), present=[zs, ww], recorded=True).id,
            "q3": add_meeting(s, branch_id=b, meeting_type="general_meeting", start=local(2024, 9, 30, 23, 0), present=[zs, ls]).id,
            "oct": add_meeting(s, branch_id=b, meeting_type="theme_day", start=local(2024, 10, 8), present=[zs], recorded=True).id,
            "nov": add_meeting(s, branch_id=b, meeting_type="theme_day", start=local(2024, 11, 6), present=[zs], recorded=True).id,
        }
        s.commit()
    return ids


def test_outcomes_through_the_api(client: TestClient, county: County) -> None:
    client.app.state.ctx.settings.supervision = SupervisionSettings.model_validate(MOVES) if isinstance(MOVES, dict) else MOVES  # type: ignore[attr-defined]
    ids = history(client, county)
    b = county.branches["东城一村"]
    r = client.get("/api/v1/supervision/compliance", headers=county.admin, params={
        "since": "2024-01-01", "until": "2024-12-31", "unit_id": b, "types": ["general_meeting", "theme_day"]})
    assert r.status_code == 200, r.text
    cells = {(c["code"], c["period"]): c for c in r.json()["cells"]}
    assert cells[("general_meeting", "2024-Q1")]["status"] == "held_ok"
    assert cells[("general_meeting", "2024-Q1")]["meeting_id"] == ids["q1"]
    assert cells[("general_meeting", "2024-Q2")]["status"] == "no_quorum"
    # 23:00 on 30 September, county time, is still the third quarter.
    assert cells[("general_meeting", "2024-Q3")]["status"] == "not_recorded"
    assert cells[("general_meeting", "2024-Q4")]["status"] == "not_held"
    assert cells[("theme_day", "2024-10")]["status"] == "held_ok"  # held on the moved day
    nov = cells[("theme_day", "2024-11")]
    assert nov["status"] == "not_held" and "not on the fixed day 2024-11-05" in nov["note"]
    assert cells[("theme_day", "2024-10")]["township"] == "东城镇"
    assert r.json()["summary"]["general_meeting"] == {"held_ok": 1, "no_quorum": 1, "not_recorded": 1, "not_held": 1}


def test_rules_endpoint_and_conflicting_overrides(client: TestClient, county: County) -> None:
    r = client.get("/api/v1/supervision/rules", headers=county.admin)
    assert r.status_code == 200
    assert {x["code"]: x["frequency"] for x in r.json()["rules"]}["theme_day"] == "monthly"
    client.app.state.ctx.settings.supervision = SupervisionSettings(rule_overrides=[{"code": "theme_day", "frequency": "yearly"}])  # type: ignore[attr-defined]
    r = client.get("/api/v1/supervision/rules", headers=county.admin)
    assert r.status_code == 422 and r.json()["code"] == "rule_conflict"
    assert "theme_day: a fixed day of the month needs frequency monthly" in r.json()["detail"]


def test_township_sees_only_its_branches(client: TestClient, county: County) -> None:
    history(client, county)
    xishan = county.operators["西山乡"]
    r = client.get("/api/v1/supervision/compliance", headers=xishan,
                   params={"since": "2024-01-01", "until": "2024-12-31", "unit_id": county.branches["东城一村"]})
    assert r.status_code == 404
    r = client.get("/api/v1/supervision/compliance", headers=xishan, params={"since": "2024-01-01", "until": "2024-03-31"})
    assert r.status_code == 200
    assert {c["branch_name"] for c in r.json()["cells"]} == {"西山一村", "西山二村"}
    r = client.get("/api/v1/supervision/compliance", headers=xishan, params={"since": "2024-03-01", "until": "2024-01-01"})
    assert r.status_code == 422 and "swap the dates" in r.json()["detail"]


def test_meeting_has_recording_with_and_without_the_segments_table(client: TestClient, county: County, tmp_path) -> None:
    ids = history(client, county)
    with sessions(client)() as s:
        assert meeting_has_recording(s, ids["q1"]) is True
        assert meeting_has_recording(s, ids["q3"]) is False
        assert meetings_with_recording(s, [ids["q1"], ids["q2"], ids["q3"]]) == {ids["q1"], ids["q2"]}
    # A database where the media plane never created its table.
    engine = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    with Session(engine) as s:
        assert meeting_has_recording(s, "m-1") is False
        assert meetings_with_recording(s, ["m-1"]) == set()
        s.execute(text("CREATE TABLE recording_segments (id INTEGER PRIMARY KEY, meeting_id VARCHAR(36))"))
        s.execute(text("INSERT INTO recording_segments (meeting_id) VALUES ('m-1')"))
        assert meeting_has_recording(s, "m-1") is True
        assert meeting_has_recording(s, "m-2") is False


def test_scheduler_reminds_alerts_and_flags_once(client: TestClient, county: County) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    history(client, county)
    b = county.branches["东城一村"]
    zs, ls, ww = county.members["张三"], county.members["李四"], county.members["王五"]
    with sessions(client)() as s:
        # Ended an hour ago: three check-ins, the camera saw one person.
        proxy = add_meeting(s, branch_id=b, meeting_type="committee", start=utcnow() - timedelta(hours=2), present=[zs, ls, ww],
                            max_headcount=1)
        s.commit()
    with sessions(client)() as s:
        events = scheduler.run_checks(s, ctx.settings, MOVES, today=date(2024, 12, 28))
        kinds = [e.kind for e in events]
        assert "headcount_low" in kinds
        # 2024-Q3 closed not recorded: one alert per branch and type.
        unmet = [e for e in events if e.kind == "compliance_unmet" and e.branch_id == b and "支部党员大会（2024-Q3）" in e.message]
        assert len(unmet) == 1 and "未直播或录像" in unmet[0].message
        again = scheduler.run_checks(s, ctx.settings, MOVES, today=date(2024, 12, 28))
        assert [e for e in again if e.kind in ("compliance_unmet", "headcount_low")] == []
        reminders = s.scalars(select(Notification).where(Notification.kind == "reminder", Notification.branch_id == b)).all()
        # 2024-Q4 general meeting (and the year's life meeting...) close within five days: the committee member is told.
        assert reminders and {n.member_id for n in reminders} == {zs}
        assert any("支部党员大会（2024-Q4）" in n.text for n in reminders)
        n_alerts = s.scalar(select(func.count()).select_from(ComplianceAlert))
        scheduler.run_checks(s, ctx.settings, MOVES, today=date(2024, 12, 28))
        assert s.scalar(select(func.count()).select_from(ComplianceAlert)) == n_alerts
        from hub.meetings.models import Meeting
        flagged = s.get(Meeting, proxy.id)
        assert flagged is not None and flagged.flagged and "headcount 1" in (flagged.flag_reason or "")
    r = client.get("/api/v1/supervision/compliance/alerts", headers=county.operators["西山乡"])
    assert all(a["branch_id"] in (county.branches["西山一村"], county.branches["西山二村"]) for a in r.json())
    r = client.get("/api/v1/supervision/compliance/alerts", headers=county.operators["东城镇"])
    assert any(a["kind"] == "headcount" for a in r.json())


def test_a_branch_set_up_in_november_owes_nothing_for_january_to_october(client: TestClient, county: County) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    new, old = county.branches["西山一村"], county.branches["西山二村"]
    with sessions(client)() as s:
        s.get(OrgUnit, new).created_at = local(2024, 11, 12)  # type: ignore[union-attr]
        s.commit()
    r = client.get("/api/v1/supervision/compliance", headers=county.admin, params={
        "since": "2024-01-01", "until": "2024-12-31", "types": ["general_meeting", "theme_day"]})
    assert r.status_code == 200, r.text
    cells = {(c["branch_id"], c["code"], c["period"]): c["status"] for c in r.json()["cells"]}
    assert {(c, p) for b, c, p in cells if b == new} == {("theme_day", "2024-12")}
    assert cells[(new, "theme_day", "2024-12")] == "not_held"
    assert cells[(old, "theme_day", "2024-01")] == "not_held"  # on the hub since 2020
    assert cells[(old, "general_meeting", "2024-Q1")] == "not_held"
    with sessions(client)() as s:
        scheduler.run_checks(s, ctx.settings, MOVES, today=date(2024, 12, 28))
        # 2024's periods only: the hub's own scheduler also checks today's (a reminder
        # for this month's theme day when the tests run in its first days)
        alerts = {b: {(a.kind, a.period_key) for a in s.scalars(select(ComplianceAlert).where(ComplianceAlert.branch_id == b))
                      if a.period_key.startswith("2024")}
                  for b in (new, old)}
        # the December theme day (the 5th) fell after it was set up: missed; nothing before that,
        # and no reminder for the quarter it joined part-way
        assert ("unmet", "2024-12") in alerts[new] and ("unmet", "2024-11") not in alerts[new]
        assert {p for _, p in alerts[new]} == {"2024-12"}
        assert {("unmet", "2024-11"), ("reminder", "2024-Q4")} <= alerts[old]
