"""The report viewer: a client that answers the dashboard's requests from a recorded report.

The dashboard talks to any `neodev.client.wire.AsyncClient`; this one needs no daemon and no
Docker. It dispatches on the request's endpoint and answers with the records the daemon
answered when the report was written: the status, each unit's details, pages of lines — with
the daemon's own matcher and pager (`neodev.protocol.logsearch`), so a search or a filter finds
what it found live —, a followed stream that ends after the recorded lines, and an event
stream that is the recorded snapshot. Whatever would change something is refused
(`ReadOnlyReportError`): a report shows the environment as it was.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import unquote

from neodev.client.wire import Connection
from neodev.errors import ReadOnlyReportError, RequestError, UnknownJobError, UnknownUnitError
from neodev.jsontypes import JsonObject
from neodev.protocol import endpoints as ep
from neodev.protocol.cluster import Jobs
from neodev.protocol.db import Snapshots
from neodev.protocol.documents import Wiring
from neodev.protocol.endpoints import Request
from neodev.protocol.events import Event, Snapshot
from neodev.protocol.logs import LogPage, LogRecord
from neodev.protocol.logsearch import LogQuery, select
from neodev.protocol.units import ConnectionInfo, UnitDetails
from neodev.report.archive import read_archive
from neodev.report.model import Report

R = TypeVar("R")
FOLLOW_ALL = 10**9
"""`limit` of a followed stream: every recorded line after the given id."""


class ReportClient:
    """Answers `neodev.client.calls` requests from a report, read-only.

    Args:
        report: The recorded report.
        source: Where it was read from (said in the header and in refusals).
    """

    def __init__(self, report: Report, source: str = "report") -> None:
        self.report = report
        self.source = source

    @classmethod
    def open(cls, path: Path) -> ReportClient:
        """The viewer of the report file `path`.

        Raises:
            ReportError: `path` is not a readable neodev report.
        """
        return cls(read_archive(path), str(path))

    @property
    def title(self) -> str:
        """What the dashboard's header says instead of the daemon's state."""
        manifest = self.report.manifest
        when = datetime.fromtimestamp(manifest.created_at).strftime("%Y-%m-%d %H:%M:%S")
        wait = self.report.wait
        verdict = "" if wait is None else (
            " · start --wait ok" if wait.ok else
            f" · start --wait failed: {wait.failure} ({', '.join(wait.failed)})")
        return f"read-only report {Path(self.source).name} · recorded {when}{verdict}"

    async def aclose(self) -> None:
        """Nothing is open: the report is in memory."""

    # -- calls ------------------------------------------------------------------------------

    async def call(self, request: Request[R]) -> R:
        """The recorded answer to `request`.

        Raises:
            ReadOnlyReportError: the request would change something.
            UnknownUnitError, UnknownJobError: as the daemon would answer.
            RequestError: an invalid regular expression.
        """
        endpoint, report = request.endpoint, self.report
        answer: Any
        if endpoint is ep.PING:
            answer = report.ping
        elif endpoint is ep.STATUS:
            answer = report.status
        elif endpoint is ep.UNIT:
            answer = self._details(_path_name(request.path))
        elif endpoint is ep.CONNECTION:
            self._details(_path_name(request.path))
            answer = ConnectionInfo()  # a report keeps no secret to connect with
        elif endpoint is ep.LOGS:
            answer = self._page(request.query)
        elif endpoint is ep.WIRING:
            answer = report.wiring or Wiring()
        elif endpoint is ep.DIAGNOSTICS:
            answer = report.diagnostics
        elif endpoint is ep.SNAPSHOTS:
            answer = Snapshots()
        elif endpoint is ep.JOBS:
            answer = Jobs(report.status.jobs)
        elif endpoint is ep.JOB:
            answer = self._job(_path_name(request.path))
        else:
            raise self._refusal(request)
        return cast(R, answer)

    def stream(self, request: Request[R]) -> AsyncIterator[R]:
        """A recorded stream: the lines after `after` (then it ends), the events, a job."""
        endpoint = request.endpoint
        items: list[Any]
        if endpoint is ep.FOLLOW_LOGS:
            items = self._followed(request.query)
        elif endpoint is ep.EVENTS:
            items = self._events(request.query)
        elif endpoint is ep.FOLLOW_JOB:
            items = [self._job(_path_name(request.path))]
        else:
            raise self._refusal(request)
        return _iterate(cast(list[R], items))

    async def follow_events(self, *, units: list[str] | None = None,
                            types: list[str] | None = None
                            ) -> AsyncIterator[Event | Connection]:
        """The recorded snapshot, once: the report does not change."""
        yield Connection(True, "report")
        yield self.snapshot()

    def snapshot(self) -> Snapshot:
        status = self.report.status
        return Snapshot(seq=status.seq, ts=self.report.manifest.created_at,
                        instance=status.instance, units=status.units)

    # -- answers ----------------------------------------------------------------------------

    def _details(self, name: str) -> UnitDetails:
        details = self.report.units.get(name)
        if details is None:
            raise UnknownUnitError(name, list(self.report.units))
        return details

    def _query(self, query: JsonObject) -> LogQuery:
        units = query.get("unit")
        for name in units or ():
            if name not in self.report.logs:
                raise UnknownUnitError(name, list(self.report.logs))
        return LogQuery(units=frozenset(units) if units else None,
                        streams=frozenset(query["stream"]) if query.get("stream") else None,
                        levels=frozenset(query["level"]) if query.get("level") else None,
                        text=query.get("q") or None, regex=query.get("regex") or None,
                        ignore_case=not query.get("case", False),
                        probes=query.get("probes", True) is not False)

    def _select(self, log_query: LogQuery, **bounds: Any) -> list[LogRecord]:
        rings = [lines for unit, lines in self.report.logs.items()
                 if log_query.units is None or unit in log_query.units]
        try:
            return select(rings, log_query, **bounds)
        except re.error as exc:
            raise RequestError(f"regex {log_query.regex!r} is not a valid regular "
                               f"expression: {exc}", param="regex") from exc

    def _page(self, query: JsonObject) -> LogPage:
        limit = int(query.get("limit", 200))
        lines = self._select(self._query(query), before=query.get("before"),
                             after=query.get("after"), limit=limit, since=query.get("since"))
        return LogPage(tuple(lines), self.report.manifest.last_log_id, more=len(lines) == limit)

    def _followed(self, query: JsonObject) -> list[LogRecord]:
        log_query = self._query(query)
        after, n, since = query.get("after"), int(query.get("n", 0)), query.get("since")
        if after is not None:
            return self._select(log_query, after=after, limit=FOLLOW_ALL)
        return self._select(log_query, limit=n, since=since) if n or since else []

    def _events(self, query: JsonObject) -> list[Event]:
        if query.get("since") is None:
            return [self.snapshot()]
        types, units = query.get("type"), query.get("unit")
        return [e for e in self.report.events
                if (not types or e.type in types)
                and (not units or e.unit_name is None or e.unit_name in units)]

    def _job(self, job_id: str) -> Any:
        for job in self.report.status.jobs:
            if job.id == job_id:
                return job
        raise UnknownJobError(job_id)

    def _refusal(self, request: Request[Any]) -> ReadOnlyReportError:
        manifest = self.report.manifest
        when = datetime.fromtimestamp(manifest.created_at).strftime("%Y-%m-%d %H:%M:%S")
        return ReadOnlyReportError(
            f"read-only report: {request.method} {request.path} cannot be done from "
            f"{Path(self.source).name}, recorded {when} in {manifest.workspace} — nothing "
            "can be started, stopped or changed from a report")


def _path_name(path: str) -> str:
    """The name in `/v1/units/{name}[/...]` or `/v1/jobs/{job_id}[/...]`."""
    return unquote(path.split("/")[3])


async def _iterate(items: list[R]) -> AsyncIterator[R]:
    for item in items:
        yield item
