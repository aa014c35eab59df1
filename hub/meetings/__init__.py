"""Meetings (组织生活): types, schedule, start/end, quorum."""
