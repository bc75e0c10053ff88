"""Database snapshots: sealed template copies of a dev database on the same Postgres server."""

from __future__ import annotations

from dataclasses import dataclass

AUTOMATIC_KEPT = 3
"""Automatic `before-restore-*` snapshots a restore keeps: the newest ones; a restore that takes
one more drops the oldest and says which (`SnapshotRestored.pruned`)."""


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A snapshot of a dev database: a sealed template copy on the same Postgres server."""

    name: str
    database: str
    """The database it is a copy of (and that `restore` puts it back into)."""
    server: str
    """The Postgres unit."""
    taken_at: float
    size_bytes: int
    automatic: bool = False
    """Taken by `restore` to keep the data it replaced."""


@dataclass(frozen=True, slots=True)
class Snapshots:
    """`GET /v1/db/snapshots`, oldest first."""

    snapshots: tuple[SnapshotRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotTaken:
    """`POST /v1/db/snapshots`: the new snapshot, the units paused for the copy, its time."""

    snapshot: SnapshotRecord
    paused: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SnapshotRestored:
    """`POST /v1/db/snapshots/{name}/restore`: what was put back, and the automatic snapshot
    that holds the data it replaced."""

    restored: SnapshotRecord
    saved: SnapshotRecord | None = None
    """None only when there was no database to keep (a restore into a missing database)."""
    paused: tuple[str, ...] = ()
    seconds: float = 0.0
    pruned: tuple[SnapshotRecord, ...] = ()
    """The oldest automatic snapshots dropped to keep the newest `AUTOMATIC_KEPT`."""


@dataclass(frozen=True, slots=True)
class SnapshotDropped:
    """`DELETE /v1/db/snapshots/{name}`."""

    dropped: SnapshotRecord


@dataclass(frozen=True, slots=True)
class DatabaseBranched:
    """`POST /v1/db/branch`: this instance's Postgres started from a physical copy of another
    instance's server (`neodev start --db-from`)."""

    source: str
    """The instance copied from."""
    server: str
    """This instance's Postgres unit."""
    volume: str
    """The data volume the copy went into."""
    copied_bytes: int
    """Size of the copied data directory."""
    copy_seconds: float
    """The copy alone (pg_basebackup)."""
    seconds: float
    """Everything: the copy, this server's start, its credentials, the snapshot restored."""
    snapshot: str | None = None
    """The source's snapshot put in place of the database, when one was named."""
