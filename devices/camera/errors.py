"""Errors of the capture package."""

from __future__ import annotations


class CaptureError(Exception):
    """A source could not be opened or read. The message says what to check."""
