"""Is this unit a problem? The one rule, decided by the engine and carried on the record.

Every client shows `UnitRecord.problem` (the status table, the dashboard's problems bar and
notifications, the agent server) instead of deciding again from states and flags.
"""

from __future__ import annotations

from neodev.protocol.units import Health, UnitRecord, UnitState


def problem_of(record: UnitRecord) -> str:
    """What is wrong with the unit in a sentence, or "" when nothing is.

    A unit is a problem when it is unhealthy, crashed, waiting to be restarted after a
    failure (or an engine outage), crash-looping — a crash loop stays a problem while it is
    being started again, until a run stays up for the stable period — or unavailable (its
    image cannot be had: one problem, told once, not one per retry). A unit held back by a
    failed dependency, or skipped because it needs an unavailable one, is not: its dependency
    is the problem, and says so.
    """
    if record.health is Health.UNHEALTHY:
        return record.health_detail or "unhealthy"
    if record.crash_loop or record.state in (UnitState.CRASHED, UnitState.BACKOFF,
                                             UnitState.UNAVAILABLE):
        return record.reason or str(record.state)
    return ""
