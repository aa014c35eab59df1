"""Process-wide settings of a long-running hub or media-node process.

Python's cyclic garbage collector, with its default thresholds, was a large
share of a media node's CPU: at 256 halls the process tracks ~280,000
objects, ran a full collection about every 6 s, and each one took ~0.18 s
with the event loop stopped (every hall's packets waited). Measured with
`branchlive bench ingest 256` and py-spy; figures in docs/capacity.md.

Two standard remedies (CPython's gc module documents both):
- `gc.freeze()` after start-up: the ~160,000 objects made while importing
  and building the app (modules, classes, functions, routes) live as long
  as the process and never become garbage; frozen, no collection visits them.
- a larger first generation: the containers made per packet and per frame
  mostly die by reference counting before a collection would look at them,
  so collections run a hundred times less often for the same garbage.
Cycles are still found: the collector runs, just less often.
"""

from __future__ import annotations

import gc

from prometheus_client import Gauge

# A young-generation collection after this many new container objects (CPython: 700).
YOUNG_GENERATION = 10_000

FROZEN = Gauge("branchlive_gc_frozen_objects",
               "Objects made at start-up that the garbage collector no longer visits")
FROZEN.set_function(gc.get_freeze_count)


def settle_after_startup() -> None:
    """Call once per process, after the app is built and before it serves."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, 10, 10)
