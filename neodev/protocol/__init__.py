"""The daemon's wire protocol: every record that crosses the control socket, in one place.

The engine produces these records, the daemon serialises them with one codec (`codec.py`),
and every client — the CLI, the dashboard, the agent server, the report viewer — reads them
back as the same typed records through `neodev.client`. Plain frozen standard-library
dataclasses (a client imports this in milliseconds). The endpoints themselves, with the record
each answers, are declared once in `endpoints.py`.

- `units.py`: a unit's status, verdicts, details; `logs.py`: lines and pages; `events.py`: the
  event stream and its fold; `documents.py`: ping, status, telemetry, wiring, down;
  `db.py`: database snapshots; `cluster.py`: the kind mirror's report and jobs.
"""

from neodev.protocol.cluster import ClusterReport, JobRecord, ProgressStep
from neodev.protocol.codec import ProtocolError, decode, encode
from neodev.protocol.db import SnapshotRecord
from neodev.protocol.documents import PROTOCOL_VERSION, Ping, Status, Telemetry
from neodev.protocol.events import (
    EVENT_TYPES,
    Event,
    JobChanged,
    LogEvent,
    ReloadPhase,
    Resync,
    Snapshot,
    UnitChanged,
    decode_event,
    encode_event,
    fold,
)
from neodev.protocol.logs import LogGap, LogPage, LogRecord
from neodev.protocol.units import (
    Health,
    ReloadRecord,
    TimelineEntry,
    UnitDetails,
    UnitRecord,
    UnitState,
    Verdict,
    WaitResult,
)

__all__ = [
    "EVENT_TYPES", "PROTOCOL_VERSION", "ClusterReport", "Event", "Health", "JobChanged",
    "JobRecord", "LogEvent", "LogGap", "LogPage", "LogRecord", "Ping", "ProgressStep",
    "ProtocolError", "ReloadPhase", "ReloadRecord", "Resync", "Snapshot", "SnapshotRecord",
    "Status", "Telemetry", "TimelineEntry", "UnitChanged", "UnitDetails", "UnitRecord",
    "UnitState", "Verdict", "WaitResult", "decode", "decode_event", "encode", "encode_event",
    "fold",
]
