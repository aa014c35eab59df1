"""What the agent needs from the fingerprint reader, as an interface.

The driver lives in `devices/fingerprint/` (another package); the agent
only consumes its events and asks for enrolments. Events are matched by
class name and attributes (`FingerMatched.slot`, `PoorImage.reason`,
`ReaderFault.message`), so the driver's own dataclasses and test fakes both
fit without this package importing the driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

# The prompts a reader gives during enrolment, in the agent's words.
ENROL_PRESS = "press"
ENROL_LIFT = "lift"
ENROL_AGAIN = "again"

EVENT_NAMES = frozenset(
    {"ReaderReady", "FingerMatched", "NotRecognised", "PoorImage", "ReadFailed", "ReaderFault",
     "ReaderReconnected"}
)


@runtime_checkable
class FingerprintReader(Protocol):
    def events(self) -> AsyncIterator[object]:
        """Reader events (ReaderReady, FingerMatched, NotRecognised, ...) until closed."""
        ...

    async def enroll(self, slot: int, prompt: Callable[[str], None]) -> bytes | None:
        """Enrol one finger into `slot`, calling `prompt(ENROL_*)` as the
        module asks for presses; returns the template if the driver can
        download it (for the hub's backup), else None. Raises on failure."""
        ...

    async def delete(self, slot: int) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class RestorableReader(FingerprintReader, Protocol):
    """A reader whose module library can be read and written (backup restore)."""

    async def template_count(self) -> int:
        """Templates stored in the module (waits a while for the reader to be ready)."""
        ...

    async def store_template(self, slot: int, template: bytes) -> None:
        """Write a backed-up template into `slot`, verified byte for byte."""
        ...


def event_name(event: object) -> str:
    return type(event).__name__
