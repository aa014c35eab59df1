"""Quorum rules (DOMAIN.md), on the pure function."""

from __future__ import annotations

import pytest

from hub.meetings.quorum import RosterEntry, compute


def roster() -> list[RosterEntry]:
    # 1-4 full, 5-6 probationary, 7 full but excused, 8-10 committee (full)
    out = [RosterEntry(i, "full", False, False) for i in range(1, 5)]
    out += [RosterEntry(5, "probationary", False, False), RosterEntry(6, "probationary", False, False)]
    out += [RosterEntry(7, "full", True, False)]
    out += [RosterEntry(i, "full", False, True) for i in range(8, 11)]
    return out


def test_half_voting_counts_only_full_members_not_excused() -> None:
    # Voting: 1,2,3,4,8,9,10 = 7 expected; more than half = 4.
    q = compute("half_voting", roster(), {1, 2, 3})
    assert (q.expected, q.present, q.required, q.met) == (7, 3, 4, False)
    assert compute("half_voting", roster(), {1, 2, 3, 4}).met


def test_probationary_members_do_not_make_quorum() -> None:
    q = compute("half_voting", roster(), {1, 2, 3, 5, 6})
    assert q.present == 3 and not q.met


def test_excused_member_not_expected_but_counted_when_present() -> None:
    assert compute("half_voting", roster(), set()).expected == 7
    q = compute("half_voting", roster(), {1, 2, 3, 7})
    assert (q.expected, q.present, q.required, q.met) == (8, 4, 5, False)


def test_exactly_half_is_not_more_than_half() -> None:
    r = [RosterEntry(i, "full", False, False) for i in range(1, 5)]
    assert not compute("half_voting", r, {1, 2}).met
    assert compute("half_voting", r, {1, 2, 3}).met


def test_committee_rule_counts_committee_members() -> None:
    q = compute("half_committee", roster(), {8, 9, 1, 2, 3})
    assert (q.expected, q.present, q.met) == (3, 2, True)
    assert not compute("half_committee", roster(), {8, 1, 2, 3, 4}).met


def test_election_needs_more_than_four_fifths() -> None:
    r = [RosterEntry(i, "full", False, False) for i in range(1, 11)]
    assert not compute("four_fifths_voting", r, set(range(1, 9))).met  # 8 of 10 is not more than 4/5
    assert compute("four_fifths_voting", r, set(range(1, 10))).met


def test_no_rule_and_empty_roster() -> None:
    assert compute("none", [], set()).met
    assert not compute("half_voting", [], set()).met
    with pytest.raises(ValueError, match="unknown quorum rule"):
        compute("most", roster(), set())


def test_committee_quorum_has_the_committee_meetings_expected_as_its_base() -> None:
    # 8, 9, 10 on the committee; 11 on it too but excused with approval (abroad)
    r = roster() + [RosterEntry(11, "full", True, True)]
    q = compute("half_committee", r, {8, 9})
    assert (q.expected, q.present, q.required, q.met) == (3, 2, 2, True)
    came = compute("half_committee", r, {8, 11})  # the excused member came: expected and counted
    assert (came.expected, came.present, came.required, came.met) == (4, 2, 3, False)
