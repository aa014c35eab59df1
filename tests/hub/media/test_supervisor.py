"""The supervisor's state machine of one local media node (pure: a fake
clock, no processes)."""

from __future__ import annotations

import pytest

from hub.media.supervisor import NodeState, NodeSupervision


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_restart_cycle_and_doubling_backoff_reset_by_a_stable_run() -> None:
    clock = Clock()
    sup = NodeSupervision("node-0", first_delay=0.5, max_delay=4.0, stable_after=30.0, clock=clock)
    assert sup.state is NodeState.STARTING
    sup.answered()
    clock.now += 1
    sup.died()  # died soon after starting: first failure
    assert sup.state is NodeState.DEAD
    assert sup.back_off() == 0.5 and sup.state is NodeState.BACKING_OFF
    sup.restart()
    sup.died()  # failed to start at all
    assert sup.back_off() == 1.0
    delays = []
    for _ in range(4):
        sup.restart()
        sup.answered()
        sup.died()
        delays.append(sup.back_off())
    assert delays == [2.0, 4.0, 4.0, 4.0]  # doubling, capped
    sup.restart()
    sup.answered()
    clock.now += 30  # a stable run: the next death starts the delays over
    sup.died()
    assert sup.back_off() == 0.5
    assert sup.restarts == 6
    assert sup.history[:6] == [NodeState.STARTING, NodeState.UP, NodeState.DEAD, NodeState.BACKING_OFF,
                               NodeState.STARTING, NodeState.DEAD]
    sup.stopped()
    assert sup.state is NodeState.STOPPED


@pytest.mark.parametrize("steps, bad", [
    ([], "back_off"),                    # STARTING -> BACKING_OFF skips DEAD
    (["answered"], "answered"),          # UP -> UP
    (["answered"], "restart"),           # UP -> STARTING without dying
    (["died"], "answered"),              # a dead node does not answer
    (["died", "back_off"], "died"),      # BACKING_OFF -> DEAD
])
def test_illegal_transitions_are_refused(steps: list[str], bad: str) -> None:
    sup = NodeSupervision("node-1", clock=Clock())
    for step in steps:
        getattr(sup, step)()
    before = sup.state
    with pytest.raises(ValueError, match=f"media node node-1: no transition {before}"):
        getattr(sup, bad)()
    assert sup.state is before
