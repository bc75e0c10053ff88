"""Database snapshots: sealed template copies of a dev database on the same Postgres server."""

from __future__ import annotations

from dataclasses import dataclass


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
    paused: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SnapshotDropped:
    """`DELETE /v1/db/snapshots/{name}`."""

    dropped: SnapshotRecord
