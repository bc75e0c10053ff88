"""Recording a report: ask the running daemon for everything, through its ordinary endpoints.

The status, each unit's details (with its start timeline), every retained line, the state
events since the daemon started, the observability wiring, and `GET /v1/diagnostics` (the plan
it runs, each container's `docker inspect`, its own log). Everything the daemon answers is
already masked; `mask` (the plan's `mask_strings`) runs over every string once more before
anything is written, so a secret that reached a record some other way is not written either.
`doctor`'s checks come from the caller (they read the machine, in the CLI's process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from neodev import __version__
from neodev.client import calls
from neodev.client.sync import DaemonClient
from neodev.errors import NeodevError
from neodev.protocol.codec import decode, encode
from neodev.protocol.events import Event, Resync, Snapshot, decode_event, encode_event
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import WaitResult
from neodev.report.model import FORMAT, VERSION, CheckLine, Cut, Manifest, Report

PAGE = 10_000
"""Lines asked for per request (the daemon's largest page)."""
STATE_EVENTS = ["unit", "reload", "job"]
"""The events a report keeps: the lines are kept per unit, in `logs/`."""
Mask = Callable[[Any], Any]


def record(client: DaemonClient, *, doctor: Iterable[CheckLine] = (),
           wait: WaitResult | None = None, mask: Mask = lambda data: data,
           notes: Iterable[str] = ()) -> Report:
    """Everything the daemon behind `client` can tell about its environment, now.

    Args:
        client: The running daemon's client.
        doctor: `neodev doctor`'s checks, run by the caller.
        wait: The verdict the report is written for, if any.
        mask: Applied to every record's JSON form before it is kept.
        notes: Said in the manifest (e.g. why a part is missing).

    Raises:
        DaemonError: the daemon went away meanwhile.
    """
    notes = list(notes)
    ping = client.call(calls.ping())
    status = client.call(calls.status())
    names = [unit.name for unit in status.units]
    units = {name: client.call(calls.unit(name)) for name in names}
    logs = {name: _lines(client, name) for name in names}
    last_id = client.call(calls.logs(limit=0)).last_id
    events, cuts = _events(client)
    wiring = None
    try:
        wiring = client.call(calls.wiring())
    except NeodevError as error:  # Prometheus or Loki may be what is broken
        notes.append(f"the observability wiring could not be checked: {error.message}")
    diagnostics = client.call(calls.diagnostics())
    if diagnostics.engine_error:
        notes.append(f"the containers could not be inspected: {diagnostics.engine_error}")
    if diagnostics.daemon_log_cut:
        cuts.append(Cut("diagnostics.daemon_log", len(diagnostics.daemon_log),
                        diagnostics.daemon_log_cut,
                        "the daemon's log: only its end is kept (bytes before it left out)"))
    log_lines = diagnostics.config.get("log_lines")
    lines_per_unit = log_lines if isinstance(log_lines, int) else 0
    manifest = Manifest(format=FORMAT, version=VERSION, neodev=__version__,
                        created_at=time.time(), workspace=status.workspace,
                        profile=status.profile, project=status.project,
                        instance=status.instance, last_log_id=last_id,
                        lines_per_unit=lines_per_unit, cuts=tuple(cuts), notes=tuple(notes))
    report = Report(manifest=manifest, ping=ping, status=status, units=units, logs=logs,
                    events=events, diagnostics=diagnostics, doctor=list(doctor), wiring=wiring,
                    wait=wait)
    return masked(report, mask)


def _lines(client: DaemonClient, unit: str) -> list[LogRecord]:
    """Every retained line of `unit`, oldest first (paged backwards from the newest)."""
    found: list[LogRecord] = []
    before = None
    while True:
        page = client.call(calls.logs([unit], before=before, limit=PAGE))
        found[:0] = page.lines
        if not page.more or not page.lines:
            return found
        before = page.lines[0].id


def _events(client: DaemonClient) -> tuple[list[Event], list[Cut]]:
    """The state events since the daemon started; when the daemon no longer holds the oldest,
    its snapshot of that moment stands in for them (and the cut is said)."""
    events: list[Event] = []
    cuts: list[Cut] = []
    for event in client.stream(calls.events(since=0, types=STATE_EVENTS, follow=False)):
        if isinstance(event, Resync):
            cuts.append(Cut("events", 0, event.missed, "the daemon keeps a bounded history "
                            "of state events: the oldest were gone, a snapshot stands in"))
        elif not isinstance(event, Snapshot) or not events:
            events.append(event)
    if cuts:
        cuts[0] = Cut("events", len(events), cuts[0].dropped, cuts[0].why)
    return events, cuts


def masked(report: Report, mask: Mask) -> Report:
    """`report` with `mask` applied to every record (through their JSON form)."""
    def again(record: Any) -> Any:
        return decode(type(record), mask(encode(record)))

    return Report(
        manifest=again(report.manifest), ping=again(report.ping), status=again(report.status),
        units={name: again(d) for name, d in report.units.items()},
        logs={name: [again(r) for r in lines] for name, lines in report.logs.items()},
        events=[decode_event(mask(encode_event(e))) for e in report.events],
        diagnostics=again(report.diagnostics), doctor=[again(c) for c in report.doctor],
        wiring=None if report.wiring is None else again(report.wiring),
        wait=None if report.wait is None else again(report.wait))
