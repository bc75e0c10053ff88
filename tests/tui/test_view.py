"""The dashboard's fold of the event stream, without a screen: what it tells the person."""

from __future__ import annotations

from dataclasses import replace

from neodev.engine.problems import problem_of
from neodev.protocol import UnitChanged, UnitRecord, UnitState
from neodev.tui.view import EnvironmentView


def changed(seq: int, record: UnitRecord) -> UnitChanged:
    """The record as the engine publishes it: with its problem decided by the engine."""
    return UnitChanged(seq=seq, ts=float(seq), status=replace(record,
                                                              problem=problem_of(record)),
                       changed=("state", "reason", "failures"))


def looping(failures: int, countdown: float) -> UnitRecord:
    return UnitRecord(name="loki", kind="container", state=UnitState.BACKOFF, crash_loop=True,
                      start_failed=True, failures=failures,
                      reason=f"crash loop ({failures} failures in a row; last: pull failed); "
                             f"restarting in {countdown}s")


def test_a_crash_loop_is_told_once_not_once_per_retry() -> None:
    view = EnvironmentView()
    view.apply(changed(1, looping(5, 16.0)))
    assert [p.unit for p in view.problems_to_tell()] == ["loki"]
    retry = UnitRecord(name="loki", kind="container", state=UnitState.STARTING,
                       crash_loop=True, failures=5, reason="crash loop (5 failures in a row)")
    view.apply(changed(2, retry))
    assert [p.unit for p in view.problems()] == ["loki"], "shown while started again"
    assert view.problems_to_tell() == []
    view.apply(changed(3, looping(6, 32.0)))
    assert view.problems_to_tell() == []
    assert view.problems()[0].text.startswith("crash loop (6 failures")


def test_a_unit_that_recovered_and_fails_again_is_told_again() -> None:
    view = EnvironmentView()
    view.apply(changed(1, looping(5, 16.0)))
    view.problems_to_tell()
    view.apply(changed(2, UnitRecord(name="loki", kind="container", state=UnitState.RUNNING)))
    assert view.problems_to_tell() == []
    view.apply(changed(3, looping(5, 16.0)))
    assert [p.unit for p in view.problems_to_tell()] == ["loki"]


def test_a_snapshot_replaces_the_whole_view_never_merges_into_it() -> None:
    """After a resync the snapshot is the truth: a unit it does not hold is gone (the daemon
    restarted with another profile), the others are exactly its records."""
    from neodev.protocol import Snapshot, fold

    old = {"db": UnitRecord(name="db", kind="container", state=UnitState.RUNNING),
           "worker": UnitRecord(name="worker", kind="process", state=UnitState.CRASHED)}
    db_now = UnitRecord(name="db", kind="container", state=UnitState.STOPPED)
    snapshot = Snapshot(seq=9, ts=9.0, instance="new", units=(db_now,))
    units = dict(old)
    assert fold(units, snapshot) == {"db": db_now}

    view = EnvironmentView()
    for seq, record in enumerate(old.values(), start=1):
        view.apply(changed(seq, record))
    assert view.apply(snapshot) == ["db"]
    assert view.units == {"db": db_now} and view.instance == "new" and view.seq == 9
    assert view.problems() == []  # the crashed worker went with the view it belonged to
