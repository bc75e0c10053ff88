"""Every request a client can make, typed: `client.call(calls.status())` is a `Status`.

One function per endpoint of `neodev.protocol.endpoints`, building the `Request` both
transports execute (the synchronous `DaemonClient`, the asyncio `AsyncDaemonClient`) and any
other client answers (the report viewer answers them from a recorded file). The parameter
names here are the endpoint's; the daemon validates the same names.
"""

from __future__ import annotations

from collections.abc import Sequence

from neodev.protocol import endpoints as e
from neodev.protocol.cluster import JobRecord, Jobs
from neodev.protocol.db import (
    DatabaseBranched,
    SnapshotDropped,
    SnapshotRestored,
    Snapshots,
    SnapshotTaken,
)
from neodev.protocol.documents import Diagnostics, DownReport, Ping, Status, Wiring
from neodev.protocol.endpoints import Request
from neodev.protocol.events import Event
from neodev.protocol.logs import LogGap, LogPage, LogRecord
from neodev.protocol.units import (
    ActResult,
    ConnectionInfo,
    Started,
    Stopped,
    UnitDetails,
    WaitResult,
)

WAIT_SLACK = 30.0
"""Seconds a client waits for a `wait` answer beyond the wait's own timeout."""


def _names(units: Sequence[str] | None) -> list[str] | None:
    return list(units) if units else None


def ping() -> Request[Ping]:
    return e.PING.request()


def status() -> Request[Status]:
    return e.STATUS.request()


def start(units: Sequence[str] | None = None) -> Request[Started]:
    """Start the units (all when None) and what they depend on."""
    return e.START.request(body={"units": _names(units)})


def wait(units: Sequence[str] | None, timeout: float) -> Request[WaitResult]:
    """Wait until the units (all when None) are ready, one has failed, or `timeout` passes."""
    return e.WAIT.request(body={"units": _names(units), "timeout": timeout},
                          timeout=timeout + WAIT_SLACK)


def stop(units: Sequence[str] | None = None) -> Request[Stopped]:
    return e.STOP.request(body={"units": _names(units)})


def act(unit: str, action: str) -> Request[ActResult]:
    """start | stop | restart | reload one unit."""
    return e.ACT.request(path={"name": unit, "action": action})


def unit(name: str) -> Request[UnitDetails]:
    return e.UNIT.request(path={"name": name})


def connection(name: str) -> Request[ConnectionInfo]:
    return e.CONNECTION.request(path={"name": name})


def down(volumes: bool) -> Request[DownReport]:
    return e.DOWN.request(body={"volumes": volumes})


def shutdown() -> Request[Stopped]:
    return e.SHUTDOWN.request()


def logs(units: Sequence[str] | None = None, *, streams: Sequence[str] | None = None,
         levels: Sequence[str] | None = None, q: str | None = None, regex: str | None = None,
         case: bool = False, before: int | None = None, after: int | None = None,
         since: float | None = None, limit: int = 200, probes: bool = True
         ) -> Request[LogPage]:
    """A page of retained lines, oldest first: the newest `limit` (or those `before`/`after`
    an id), matching every filter given; the search runs over everything retained.
    `probes=False` leaves out the lines that answer neodev's own probes."""
    return e.LOGS.request(query={
        "unit": _names(units), "stream": _names(streams), "level": _names(levels), "q": q,
        "regex": regex, "case": case or None, "before": before, "after": after,
        "since": since, "limit": limit, "probes": None if probes else False})


def follow_logs(units: Sequence[str] | None = None, *, n: int = 0, since: float | None = None,
                after: int | None = None, streams: Sequence[str] | None = None,
                probes: bool = True) -> Request[LogRecord | LogGap]:
    """Lines as they come: the last `n` (or those after `after`), then live (`probes=False`:
    without the lines that answer neodev's own probes)."""
    return e.FOLLOW_LOGS.request(query={"unit": _names(units), "stream": _names(streams),
                                        "n": n or None, "since": since, "after": after,
                                        "probes": None if probes else False})


def events(*, since: int | None = None, instance: str | None = None,
           units: Sequence[str] | None = None, types: Sequence[str] | None = None,
           follow: bool = True) -> Request[Event]:
    return e.EVENTS.request(query={"since": since, "instance": instance,
                                   "unit": _names(units), "type": _names(types),
                                   "follow": follow})


def wiring() -> Request[Wiring]:
    return e.WIRING.request()


def diagnostics() -> Request[Diagnostics]:
    """What only the daemon can tell a report: its plan, the containers, its own log."""
    return e.DIAGNOSTICS.request()


def snapshots(service: str | None = None) -> Request[Snapshots]:
    return e.SNAPSHOTS.request(query={"service": service})


def take_snapshot(name: str, service: str | None = None, force: bool = False
                  ) -> Request[SnapshotTaken]:
    return e.TAKE_SNAPSHOT.request(body={"name": name, "service": service, "force": force})


def restore_snapshot(name: str, service: str | None = None, force: bool = False
                     ) -> Request[SnapshotRestored]:
    return e.RESTORE_SNAPSHOT.request(path={"name": name},
                                      body={"service": service, "force": force})


def drop_snapshot(name: str, service: str | None = None) -> Request[SnapshotDropped]:
    return e.DROP_SNAPSHOT.request(path={"name": name}, query={"service": service})


def branch_database(source: str, snapshot: str | None = None, service: str | None = None
                    ) -> Request[DatabaseBranched]:
    """Start this instance's Postgres from a copy of instance `source`'s (and its `snapshot`
    put in place of the database, when named)."""
    return e.BRANCH_DATABASE.request(body={"source": source, "snapshot": snapshot,
                                           "service": service})


def submit_job(action: str, profile: str) -> Request[JobRecord]:
    """A cluster operation (up | status | down) of the mirror of `profile`."""
    return e.SUBMIT_JOB.request(body={"kind": "cluster", "action": action, "profile": profile})


def jobs() -> Request[Jobs]:
    return e.JOBS.request()


def job(job_id: str) -> Request[JobRecord]:
    return e.JOB.request(path={"job_id": job_id})


def follow_job(job_id: str) -> Request[JobRecord]:
    return e.FOLLOW_JOB.request(path={"job_id": job_id})
