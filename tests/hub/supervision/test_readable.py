"""Supervision numbers and notes that read right: 应到 per meeting type (a
committee meeting expects the committee, not the whole roster), generated
notes as codes the dashboard writes in Chinese, meetings named by day and
topic instead of an id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.meetings.quorum import RosterEntry
from hub.supervision.reports.service import attendance
from tests.hub.conftest import County
from tests.hub.supervision.conftest import add_meeting, local, sessions


def test_expected_attendance_depends_on_the_meeting_type() -> None:
    roster = [RosterEntry(1, "full", False, True), RosterEntry(2, "full", False, True), RosterEntry(3, "full", False, False),
              RosterEntry(4, "probationary", False, False), RosterEntry(5, "full", True, False)]
    # 支委会: two committee members expected; a member sitting in does not count.
    assert attendance("half_committee", roster, {1, 3}) == (1, 2)
    # 党员大会 and the rest: everyone not excused; an excused member who came counts on both sides.
    assert attendance("half_voting", roster, {1, 3}) == (2, 4)
    assert attendance("none", roster, {1, 5}) == (2, 5)
    assert attendance("half_committee", [], {7}) == (0, 0)


def test_report_counts_the_committee_for_committee_meetings(client: TestClient, county: County) -> None:
    b = county.branches["东城一村"]  # 张三 is the committee; 李四, 王五 members; 赵六 excused
    zs, ls, ww = county.members["张三"], county.members["李四"], county.members["王五"]
    with sessions(client)() as s:
        add_meeting(s, branch_id=b, meeting_type="committee", start=local(2024, 2, 3), present=[zs, ls], recorded=True)
        add_meeting(s, branch_id=b, meeting_type="general_meeting", start=local(2024, 2, 20), present=[zs, ls, ww], recorded=True)
        s.commit()
    rep = client.get("/api/v1/supervision/reports", headers=county.admin, params={"period": "2024-Q1", "unit_id": b}).json()
    by_type = {x["code"]: x for x in rep["by_type"]}
    # Before: 2 present of a roster of 3 (67 %). The committee is one person, and came.
    assert (by_type["committee"]["present"], by_type["committee"]["expected"]) == (1, 1)
    assert by_type["committee"]["attendance_rate"] == 1.0
    assert (by_type["general_meeting"]["present"], by_type["general_meeting"]["expected"]) == (3, 3)
    assert rep["totals"]["attendance_rate"] == 1.0


def test_compliance_notes_are_codes_and_meetings_have_names(client: TestClient, county: County) -> None:
    b = county.branches["东城一村"]
    zs = county.members["张三"]
    with sessions(client)() as s:
        m = add_meeting(s, branch_id=b, meeting_type="theme_day", start=local(2024, 11, 6), present=[zs], recorded=True)
        ok = add_meeting(s, branch_id=b, meeting_type="theme_day", start=local(2024, 12, 5), present=[zs], recorded=True)
        short = add_meeting(s, branch_id=b, meeting_type="party_lecture", start=local(2024, 10, 9), minutes=5, present=[zs])
        s.commit()
        assert m.id and short.id
    r = client.get("/api/v1/supervision/compliance", headers=county.admin, params={
        "since": "2024-10-01", "until": "2024-12-31", "unit_id": b, "types": ["theme_day"]})
    assert r.status_code == 200, r.text
    cells = {c["period"]: c for c in r.json()["cells"]}
    nov = cells["2024-11"]
    assert nov["status"] == "not_held"
    assert nov["notes"] == [{"code": "theme_day", "params": {"day": "2024-11-05"}},
                            {"code": "not_fixed_day", "params": {"held": "2024-11-06", "day": "2024-11-05"}}]
    assert nov["note"] == "theme day 2024-11-05; held on 2024-11-06, not on the fixed day 2024-11-05"  # plain English for scripts
    dec = cells["2024-12"]
    assert dec["status"] == "held_ok" and dec["meeting_id"] == ok.id
    assert dec["meeting_label"] == "2024-12-05 学习党章党规" and dec["notes"] == []
