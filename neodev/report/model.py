"""What a report holds: the records the daemon answered, recorded once, plus what was cut.

Every part is a `neodev.protocol` record (or a list of them), written and read with the
protocol's one codec, so the report viewer answers the dashboard's requests with exactly the
records the daemon would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neodev.protocol.documents import Diagnostics, Ping, Status, Wiring
from neodev.protocol.events import Event
from neodev.protocol.logs import LogRecord
from neodev.protocol.units import UnitDetails, WaitResult

FORMAT = "neodev-report"
VERSION = 1
"""Bumped on an incompatible change of the archive's layout."""
MAX_BYTES = 64 * 1024 * 1024
"""Default bound of a report's content (uncompressed): everything but the lines takes a few
MiB at most; the lines share the rest, oldest cut first."""
MAX_EVENTS_BYTES = 8 * 1024 * 1024
"""The event stream's share at most (oldest events cut first)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """A part of the report that is not whole, and why."""

    part: str
    """`logs/backend`, `events`, `daemon.log`..."""
    kept: int
    dropped: int
    """Items (lines, events, bytes for the daemon's log) left out."""
    why: str


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One of `neodev doctor`'s checks, as it ran when the report was written."""

    name: str
    status: str
    """ok | warn | fail"""
    detail: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    """`manifest.json`: what the file is, when and from where it was written, and its cuts."""

    format: str
    version: int
    neodev: str
    """The version of neodev that wrote it."""
    created_at: float
    workspace: str
    profile: str
    project: str
    instance: str
    last_log_id: int = 0
    """The newest line id the daemon had given (the log pages' `last_id`)."""
    lines_per_unit: int = 0
    """Lines the daemon retains per unit (`[project] log_lines`): older ones were gone before
    the report."""
    max_bytes: int = MAX_BYTES
    cuts: tuple[Cut, ...] = ()
    notes: tuple[str, ...] = ()
    """Anything else worth knowing (a part that could not be had, and why)."""


@dataclass
class Report:
    """A whole report in memory: what `neodev report` collects and the viewer reads."""

    manifest: Manifest
    ping: Ping
    status: Status
    units: dict[str, UnitDetails] = field(default_factory=dict)
    logs: dict[str, list[LogRecord]] = field(default_factory=dict)
    """unit -> its retained lines, oldest first."""
    events: list[Event] = field(default_factory=list)
    """The state events since the daemon started (units, reloads, jobs), oldest first."""
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    doctor: list[CheckLine] = field(default_factory=list)
    wiring: Wiring | None = None
    wait: WaitResult | None = None
    """The verdict that made `start --wait --report-on-failure` write the report."""
