"""The daemon's endpoints, declared once: method, path, parameters and the record they answer.

The daemon's routes (`neodev.daemon.api`) bind a handler and the validation models to each
endpoint here, and refuse to start when a model's fields differ from the parameters declared
here; the clients (`neodev.client`) build their requests from the same entries and read the
answer as the declared record. So an endpoint's shape is written in one place, and what the
server validates is what the clients send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from neodev.protocol.cluster import JobRecord, Jobs
from neodev.protocol.codec import decoder, encode
from neodev.protocol.db import (
    DatabaseBranched,
    SnapshotDropped,
    SnapshotRestored,
    Snapshots,
    SnapshotTaken,
)
from neodev.protocol.documents import Diagnostics, DownReport, Ping, Status, Wiring
from neodev.protocol.events import Event, decode_event, encode_event
from neodev.protocol.logs import LogGap, LogPage, LogRecord, follow_item, read_follow_item
from neodev.protocol.units import (
    ActResult,
    ConnectionInfo,
    Started,
    Stopped,
    UnitDetails,
    WaitResult,
)

R = TypeVar("R")
Method = Literal["GET", "POST", "DELETE"]
REQUEST_TIMEOUT = 30.0
"""Seconds a client waits for an answer, unless the endpoint says otherwise."""


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    """One endpoint of the daemon's API."""

    method: Method
    path: str
    """A path template: `/v1/units/{name}`."""
    read: Callable[[Any], R]
    """Reads the answer (of a stream: each item) as the endpoint's record."""
    write: Callable[[R], Any] = encode
    """Writes a record (of a stream: an item) as JSON-able data; the inverse of `read`."""
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    stream: bool = False
    """Answers an NDJSON stream of items instead of one object."""
    status: int = 200
    timeout: float | None = REQUEST_TIMEOUT
    """How long a client waits by default (None: as long as it takes — stopping units)."""

    def request(self, path: Mapping[str, str] | None = None,
                query: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None,
                timeout: float | Literal["default"] | None = "default") -> Request[R]:
        """A request to this endpoint (`None` query values are left out)."""
        unknown = set(query or ()) - set(self.query) | set(body or ()) - set(self.body)
        if unknown:
            raise TypeError(f"{self.method} {self.path} has no parameter "
                            f"{', '.join(sorted(unknown))}")
        filled = self.path.format(**{k: quote(v, safe="") for k, v in (path or {}).items()})
        return Request(self, filled, {k: v for k, v in (query or {}).items() if v is not None},
                       None if not self.body else dict(body or {}),
                       self.timeout if timeout == "default" else timeout)


@dataclass(frozen=True)
class Request(Generic[R]):
    """One request, ready for a transport: what to send and how to read the answer."""

    endpoint: Endpoint[R]
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    timeout: float | None = REQUEST_TIMEOUT

    @property
    def method(self) -> Method:
        return self.endpoint.method


PING = Endpoint("GET", "/v1/ping", decoder(Ping))
STATUS = Endpoint("GET", "/v1/status", decoder(Status))
START = Endpoint("POST", "/v1/start", decoder(Started), body=("units",))
WAIT = Endpoint("POST", "/v1/wait", decoder(WaitResult), body=("units", "timeout"))
STOP = Endpoint("POST", "/v1/stop", decoder(Stopped), body=("units",), timeout=None)
UNIT = Endpoint("GET", "/v1/units/{name}", decoder(UnitDetails))
CONNECTION = Endpoint("GET", "/v1/units/{name}/connection", decoder(ConnectionInfo))
ACT = Endpoint("POST", "/v1/units/{name}/{action}", decoder(ActResult), timeout=None)
DOWN = Endpoint("POST", "/v1/down", decoder(DownReport), body=("volumes",), timeout=None)
SHUTDOWN = Endpoint("POST", "/v1/shutdown", decoder(Stopped), timeout=None)
LOGS = Endpoint("GET", "/v1/logs", decoder(LogPage),
                query=("unit", "stream", "level", "q", "regex", "case", "before", "after",
                       "since", "limit", "probes"))
FOLLOW_LOGS: Endpoint[LogRecord | LogGap] = Endpoint(
    "GET", "/v1/logs/follow", read_follow_item, follow_item,
    query=("unit", "stream", "after", "n", "since", "probes"), stream=True, timeout=None)
EVENTS: Endpoint[Event] = Endpoint(
    "GET", "/v1/events", decode_event, encode_event,
    query=("since", "instance", "unit", "type", "follow"), stream=True, timeout=None)
WIRING = Endpoint("GET", "/v1/wiring", decoder(Wiring), timeout=60.0)
DIAGNOSTICS = Endpoint("GET", "/v1/diagnostics", decoder(Diagnostics), timeout=60.0)
SNAPSHOTS = Endpoint("GET", "/v1/db/snapshots", decoder(Snapshots), query=("service",))
TAKE_SNAPSHOT = Endpoint("POST", "/v1/db/snapshots", decoder(SnapshotTaken),
                         body=("name", "service", "force"), timeout=None)
RESTORE_SNAPSHOT = Endpoint("POST", "/v1/db/snapshots/{name}/restore",
                            decoder(SnapshotRestored), body=("service", "force"), timeout=None)
DROP_SNAPSHOT = Endpoint("DELETE", "/v1/db/snapshots/{name}", decoder(SnapshotDropped),
                         query=("service",), timeout=None)
BRANCH_DATABASE = Endpoint("POST", "/v1/db/branch", decoder(DatabaseBranched),
                          body=("source", "snapshot", "service"), timeout=None)
SUBMIT_JOB = Endpoint("POST", "/v1/jobs", decoder(JobRecord),
                      body=("kind", "action", "profile"), status=202)
JOBS = Endpoint("GET", "/v1/jobs", decoder(Jobs))
JOB = Endpoint("GET", "/v1/jobs/{job_id}", decoder(JobRecord))
FOLLOW_JOB = Endpoint("GET", "/v1/jobs/{job_id}/follow", decoder(JobRecord), stream=True,
                      timeout=None)

ENDPOINTS: tuple[Endpoint[Any], ...] = (
    PING, STATUS, START, WAIT, STOP, UNIT, CONNECTION, ACT, DOWN, SHUTDOWN, LOGS, FOLLOW_LOGS,
    EVENTS, WIRING, DIAGNOSTICS, SNAPSHOTS, TAKE_SNAPSHOT, RESTORE_SNAPSHOT, DROP_SNAPSHOT,
    BRANCH_DATABASE, SUBMIT_JOB, JOBS, JOB, FOLLOW_JOB)
"""Every endpoint; the daemon serves exactly these (a test holds it to that)."""
