"""Supervision: compliance with the meeting rules, meeting plans and their
review, the rectification ledger and notices, inspection score sheets and
rankings, random spot checks, notifications (in-app and SMS) and reports.

Wiring (hub/app.py):
    from hub import supervision
    for router in supervision.routers: app.include_router(router)
    # in the lifespan, after the bus is bound:
    tasks = supervision.start(ctx)   ...   await supervision.stop(tasks)
"""

from __future__ import annotations

from typing import Any

__all__ = ["routers", "start", "stop"]


def __getattr__(name: str) -> Any:
    # Lazy: `from hub import supervision; supervision.routers` loads the
    # views only when asked, so hub.config may import hub.supervision.config.
    if name in __all__:
        from hub.supervision import wiring

        return getattr(wiring, name)
    raise AttributeError(f"module 'hub.supervision' has no attribute {name!r}")
