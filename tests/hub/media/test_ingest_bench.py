"""`branchlive bench ingest` itself: its lean publishers connect through real
WHIP/ICE/DTLS to real hub processes (one node, then two) and their frames
are recorded there. Only the wiring is asserted here; the figures are the
benchmark's (docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from branchlive.bench_ingest import run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_bench_ingest_runs_one_node_and_two() -> None:
    title, rows, notes = run(["4", "--seconds", "2", "--two-nodes", "4"])
    assert [(row["N"], row["nodes"]) for row in rows] == [(4, 1), (4, 2)]
    for row in rows:
        assert row["live"] == 4, row
        assert row["frames recorded"] > 0, row
        assert row["RSS per added stream MB"] > 0, row  # streams add to the hubs' RSS
    assert len(rows[1]["hub CPU (% core)"].split("+")) == 2
    assert "two hub nodes" in notes or "two nodes" in notes
