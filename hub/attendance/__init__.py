"""Attendance: check-ins (one per member per meeting) and leave requests."""
