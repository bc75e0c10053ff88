"""The event bus's replay for a client that comes back with `since=<seq>`: everything after
`since` when the ring still reaches back that far, and None — a resync, never a silent gap —
when even one event after `since` is gone. The boundaries, event by event."""

from __future__ import annotations

from neodev.engine.events import EventBus
from neodev.protocol import LogEvent, LogRecord


def bus_with(events: int, ring: int) -> EventBus:
    bus = EventBus("x", replay=ring)
    for i in range(1, events + 1):
        bus.emit(LogEvent, record=LogRecord(i, "u", 0.0, "stdout", f"line {i}"))
    return bus


def seqs(bus: EventBus, since: int) -> list[int] | None:
    replay = bus.replay_since(since)
    return None if replay is None else [event.seq for event in replay]


def test_the_replay_starts_right_after_since_while_the_ring_reaches_it() -> None:
    bus = bus_with(10, ring=5)  # the ring holds 6..10
    assert seqs(bus, 5) == [6, 7, 8, 9, 10]  # the oldest kept is the first one missed
    assert seqs(bus, 8) == [9, 10]
    assert seqs(bus, 10) == [] and seqs(bus, 12) == []  # up to date (or ahead): nothing


def test_a_ring_trimmed_by_exactly_one_event_past_since_is_a_resync() -> None:
    bus = bus_with(10, ring=5)
    assert seqs(bus, 4) is None  # event 5 is gone: replaying 6..10 would hide it
    assert seqs(bus, 0) is None
    assert seqs(bus_with(5, ring=5), 0) == [1, 2, 3, 4, 5]  # nothing trimmed yet
    assert seqs(bus_with(6, ring=5), 0) is None  # event 1 trimmed


def test_an_empty_ring_replays_only_for_a_client_that_is_up_to_date() -> None:
    bus = EventBus("x")
    assert seqs(bus, 0) == []
    bus = bus_with(3, ring=5)
    bus._ring.clear()  # as after a flood of events the ring no longer holds
    assert seqs(bus, 3) == [] and seqs(bus, 2) is None


def test_a_replay_of_state_events_beyond_the_ring_comes_from_the_history_to_its_boundary(
        ) -> None:
    from collections import deque

    from neodev.protocol import UnitChanged, UnitRecord

    bus = EventBus("x", replay=3)
    bus._history = deque(maxlen=5)  # state events only: units, reloads, jobs
    for i in range(1, 11):
        bus.emit(UnitChanged, status=UnitRecord(name="db", kind="container",
                                                reason=f"step {i}"), changed=("reason",))
    # the ring holds 8..10, the history 6..10 (it dropped 5)
    assert seqs(bus, 7) == [8, 9, 10]
    assert [e.seq for e in bus.replay_since(5, types=["unit"]) or []] == [6, 7, 8, 9, 10]
    assert bus.replay_since(4, types=["unit"]) is None  # event 5 is gone from both
    assert seqs(bus, 5) is None  # with output lines wanted, only the ring counts
    assert bus.replay_since(5, types=["unit", "log"]) is None
