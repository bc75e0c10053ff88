"""Snapshots of the dev database: take, list, restore, drop, in seconds.

A snapshot is `CREATE DATABASE neodev_snap_<name> TEMPLATE <db>`: Postgres copies the
database's files (no dump, no replay), and the copy is sealed as a template nobody can connect
to or change. Postgres refuses to copy a database anybody is connected to, so the units that
use it (those that depend on the Postgres unit) are stopped for the copy and started again
afterwards; any other session (a psql, an IDE) is named in the error and left alone unless
`force` says to disconnect it.

Restore never loses the current data: the current database is first renamed (instant) into an
automatic `before-restore-<time>` snapshot, then the snapshot is copied into its place; a copy
that fails for any reason (the server's refusal, a lost `docker exec`, a cancellation, a bug)
puts the current database back before the error goes on. The newest AUTOMATIC_KEPT automatic
snapshots are kept; a restore that drops an older one says which. One database operation runs
at a time.

The statements are `neodev.pgsql`'s (shared with the pytest plugin's template databases), run
by an injected executor — in the daemon, the psql inside the Postgres container
(`neodev.docker.psql.PsqlRunner`); the snapshot's metadata (its name, the database, when) is
the database's comment, so `list` needs nothing but the server, and snapshots survive the
daemon. Of the engine the snapshots need only the server unit's state and a way to pause the
units that use it (`ServerUnits`; `EngineUnits` in the daemon), so they are tested without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from neodev import pgsql
from neodev.config.model import ContainerSpec, EnvironmentPlan
from neodev.config.postgres import find_postgres, postgres_credentials
from neodev.errors import DatabaseError, RequestError, UnknownSnapshotError
from neodev.pgsql import Rows
from neodev.protocol.db import (
    AUTOMATIC_KEPT,
    SnapshotDropped,
    SnapshotRecord,
    SnapshotRestored,
    SnapshotTaken,
)
from neodev.protocol.units import UnitRecord, UnitState
from neodev.timing import Deadline, to_the_end

if TYPE_CHECKING:
    from neodev.engine.engine import Engine

DATABASE_PREFIX = "neodev_snap_"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
"""A snapshot name: short enough that the database name stays under Postgres' 63 bytes."""
AUTOMATIC_PREFIX = "before-restore-"
RELEASE_WAIT = 5.0
"""Seconds for the sessions of stopped units to end on the server before they count as held."""
MARK = "neodev-snapshot"
"""The comment's `kind`: only databases carrying it are snapshots."""

RunSql = Callable[[ContainerSpec, Sequence[str]], Awaitable[Rows]]
"""Runs statements on a Postgres service's server; the rows of the last one."""


class ServerUnits(Protocol):
    """What the snapshots need of the units: the server's state, and its users paused."""

    def status_of(self, name: str) -> UnitRecord: ...

    def paused_users(self, server: str) -> contextlib.AbstractAsyncContextManager[list[str]]:
        """Stop the running units that depend on `server` for the block (it yields their
        names); start them again afterwards, whatever happened in between."""
        ...


class EngineUnits:
    """`ServerUnits` through the daemon's engine.

    Args:
        engine: the engine (unit states, dependencies, supervisors).
        start: starts units again (the environment's, with its pre-start checks).
    """

    def __init__(self, engine: Engine, start: Callable[[list[str]], Awaitable[object]]) -> None:
        self._engine = engine
        self._start = start

    def status_of(self, name: str) -> UnitRecord:
        return self._engine.status_of(name)

    @contextlib.asynccontextmanager
    async def paused_users(self, server: str) -> AsyncIterator[list[str]]:
        engine = self._engine
        users = [name for name, unit in engine.units.items()
                 if any(d.service == server for d in unit.depends_on)
                 and engine.supervisors[name].supervising]
        if users:
            await engine.stop(users)
        try:
            yield users
        finally:
            if users:
                await self._start(users)


def snapshot_database(name: str) -> str:
    return DATABASE_PREFIX + name


def check_name(name: str) -> str:
    """The name, if it can be a snapshot's.

    Raises:
        RequestError: naming the rule.
    """
    if not NAME.fullmatch(name):
        raise RequestError(f"invalid snapshot name {name!r}: use 1-40 lower-case letters, "
                           "digits, '-' or '_', starting with a letter or digit", param="name")
    return name


class DatabaseSnapshots:
    """The dev database's snapshots, for the daemon's API.

    Args:
        plan: the profile (its Postgres services, found as `find_postgres` finds them).
        sql: runs statements on a Postgres service's server.
        units: the server unit's state, and pausing the units that use it.
        clock: monotonic seconds (how long an operation took; the wait for sessions to end).
        wall: epoch seconds (when a snapshot was taken).
    """

    def __init__(self, plan: EnvironmentPlan, sql: RunSql, units: ServerUnits, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._plan = plan
        self._sql = sql
        self._units = units
        self._clock = clock
        self._wall = wall
        self._busy = asyncio.Lock()

    # -- the operations -------------------------------------------------------------------

    async def listing(self, service: str | None = None) -> list[SnapshotRecord]:
        spec = self._server(service)
        return await self._list(spec)

    async def take(self, name: str, service: str | None = None, force: bool = False
                   ) -> SnapshotTaken:
        """Snapshot the service's database as `name`.

        Raises:
            DatabaseError: the name is invalid or taken, the server is not running, the
                database is held by sessions neodev does not own (without `force`).
        """
        check_name(name)
        spec = self._server(service)
        _, _, database = postgres_credentials(spec)
        async with self._exclusive():
            if await self._find(spec, name) is not None:
                raise DatabaseError(f"a snapshot named {name!r} exists already; drop it "
                                    f"first (`neodev db drop {name}`) or choose another name",
                                    database=database, snapshot=name)
            began = self._clock()
            async with self._units.paused_users(spec.name) as paused:
                await self._release(spec, database, force)
                await self._sql(spec, [
                    pgsql.create_database(snapshot_database(name), template=database,
                                          file_copy=await self._file_copy(spec)),
                    *self._seal(name, database)])
            record = await self._find(spec, name)
        assert record is not None
        return SnapshotTaken(record, tuple(paused), round(self._clock() - began, 3))

    async def restore(self, name: str, service: str | None = None, force: bool = False
                      ) -> SnapshotRestored:
        """Put snapshot `name` back as its database; the current data becomes an automatic
        snapshot first.

        Raises:
            UnknownSnapshotError: no such snapshot (the message lists those there are).
            DatabaseError: as for `take`.
        """
        check_name(name)
        spec = self._server(service)
        async with self._exclusive():
            record = await self._require(spec, name)
            database = record.database
            saved: str | None = self._automatic_name(await self._database_names(spec))
            began = self._clock()
            async with self._units.paused_users(spec.name) as paused:
                await self._release(spec, database, force)
                owner = await self._owner(spec, database)
                if owner is None:  # nothing to keep (a restore that could not put it back)
                    saved, owner = None, await self._owner(spec, snapshot_database(name))
                try:
                    if saved is not None:
                        await self._sql(spec, [
                            pgsql.rename_database(database, snapshot_database(saved)),
                            *self._seal(saved, database, automatic=True)])
                    await self._sql(spec, [pgsql.create_database(
                        database, template=snapshot_database(name), owner=owner,
                        file_copy=await self._file_copy(spec))])
                except BaseException as failure:
                    if saved is not None:
                        await self._undo_restore(spec, database, saved, failure)
                    raise
            kept = None if saved is None else await self._find(spec, saved)
            pruned = await self._prune_automatic(spec)
        return SnapshotRestored(record, kept, tuple(paused), round(self._clock() - began, 3),
                                pruned)

    async def drop(self, name: str, service: str | None = None) -> SnapshotDropped:
        """Drop snapshot `name`.

        Raises:
            UnknownSnapshotError: no such snapshot.
        """
        check_name(name)
        spec = self._server(service)
        async with self._exclusive():
            record = await self._require(spec, name)
            await self._sql(spec, pgsql.drop_database(snapshot_database(name)))
        return SnapshotDropped(record)

    # -- the server -----------------------------------------------------------------------

    def _server(self, service: str | None) -> ContainerSpec:
        """The Postgres unit's spec, if it is running and healthy."""
        spec = find_postgres(self._plan, service)
        record = self._units.status_of(spec.name)
        if record.state is not UnitState.RUNNING or not record.ready:
            state = f"{record.state}, not ready" if record.state is UnitState.RUNNING \
                else str(record.state)
            raise DatabaseError(f"{spec.name} is {state}: the snapshots live on its server; "
                                f"start it first (`neodev start --wait {spec.name}`)",
                                title="Postgres not running")
        return spec

    async def _list(self, spec: ContainerSpec) -> list[SnapshotRecord]:
        rows = await self._sql(spec, [pgsql.list_databases(DATABASE_PREFIX, sizes=True)])
        records = [_record(spec.name, *row) for row in rows if len(row) == 3]
        return sorted((r for r in records if r is not None), key=lambda r: r.taken_at)

    async def _database_names(self, spec: ContainerSpec) -> set[str]:
        """Every database named like a snapshot, labelled as one or not."""
        rows = await self._sql(spec, [pgsql.list_databases(DATABASE_PREFIX)])
        return {row[0] for row in rows if row}

    def _automatic_name(self, databases: set[str]) -> str:
        """`before-restore-<UTC time>`, with `-2`, `-3`... after a restore in the same second:
        free among all those `databases`, so the rename can only fail for another reason."""
        base = AUTOMATIC_PREFIX + time.strftime("%Y%m%d-%H%M%S", time.gmtime(self._wall()))
        name, count = base, 1
        while snapshot_database(name) in databases:
            count += 1
            name = f"{base}-{count}"
        return name

    async def _find(self, spec: ContainerSpec, name: str) -> SnapshotRecord | None:
        return next((r for r in await self._list(spec) if r.name == name), None)

    async def _require(self, spec: ContainerSpec, name: str) -> SnapshotRecord:
        found = await self._list(spec)
        for record in found:
            if record.name == name:
                return record
        there = ", ".join(r.name for r in found) or "none; take one with `neodev db snapshot NAME`"
        raise UnknownSnapshotError(f"no snapshot {name!r} on {spec.name} (snapshots: {there})",
                                   snapshot=name)

    async def _owner(self, spec: ContainerSpec, database: str) -> str | None:
        """The owner of `database`; None when it does not exist."""
        rows = await self._sql(spec, [pgsql.database_owner(database)])
        return rows[0][0] if rows and rows[0] else None

    async def _exists(self, spec: ContainerSpec, database: str) -> bool:
        return bool(await self._sql(spec, [pgsql.database_exists(database)]))

    async def _undo_restore(self, spec: ContainerSpec, database: str, saved: str,
                            failure: BaseException) -> None:
        """Put the database back after a failed restore, to the end even when cancelled.

        Raises:
            DatabaseError: putting it back failed too; names the snapshot that holds its data.
        """
        try:
            await to_the_end(self._put_back(spec, database, saved))
        except Exception as exc:
            raise DatabaseError(
                f"restoring {database!r} failed ({_why(failure)}) and putting it back failed "
                f"too ({_why(exc)}): its data is kept in snapshot {saved!r}; "
                f"`neodev db restore {saved}` puts it back", database=database,
                snapshot=saved) from failure

    async def _put_back(self, spec: ContainerSpec, database: str, saved: str) -> None:
        """Undo a restore's first steps, whichever of them reached the server: the automatic
        snapshot `saved` becomes `database` again, and a copy of the restored snapshot made
        meanwhile (a `docker exec` lost after the server finished) is dropped — it holds
        nothing of the database's own, which is all in `saved`."""
        await self._stop_copies_into(spec, database)
        kept = snapshot_database(saved)
        if not await self._exists(spec, kept):
            return  # the rename never happened: the database is as it was
        if await self._exists(spec, database):
            await self._sql(spec, pgsql.drop_database(database))
        await self._sql(spec, [pgsql.unseal_template(kept, reopen=True),
                               pgsql.rename_database(kept, database),
                               pgsql.label_database(database, None)])

    async def _file_copy(self, spec: ContainerSpec) -> bool:
        """FILE_COPY where the server has a choice (15+): benchmarks/db_snapshot.py measures
        the difference to the default WAL_LOG."""
        return pgsql.file_copy_supported(await self._sql(spec, [pgsql.SERVER_VERSION]))

    def _seal(self, name: str, database: str, automatic: bool = False) -> list[str]:
        """The statements that label a copy as snapshot `name` and make it read-only."""
        target = snapshot_database(name)
        return [pgsql.label_database(target, {"kind": MARK, "name": name, "database": database,
                                              "taken_at": self._wall(),
                                              "automatic": automatic}),
                pgsql.seal_template(target)]

    async def _stop_copies_into(self, spec: ContainerSpec, database: str) -> None:
        """End a copy into `database` the server still runs (its client was lost or
        cancelled), so it cannot land after the database is put back.

        Raises:
            DatabaseError: it is still running RELEASE_WAIT seconds later.
        """
        if not await self._sql(spec, [pgsql.copies_into(database)]):
            return
        await self._sql(spec, [pgsql.copies_into(database, stop=True)])
        deadline = Deadline(RELEASE_WAIT, self._clock)
        while await self._sql(spec, [pgsql.copies_into(database)]):
            if deadline.passed:
                raise DatabaseError(f"a copy into {database!r} still runs on {spec.name}",
                                    database=database)
            await asyncio.sleep(0.05)

    async def _prune_automatic(self, spec: ContainerSpec) -> tuple[SnapshotRecord, ...]:
        """Drop the automatic snapshots beyond the newest AUTOMATIC_KEPT; the dropped ones."""
        automatic = [r for r in await self._list(spec) if r.automatic]
        dropped = tuple(automatic[:-AUTOMATIC_KEPT])
        for record in dropped:
            await self._sql(spec, pgsql.drop_database(snapshot_database(record.name)))
        return dropped

    # -- who holds the database -----------------------------------------------------------

    async def _release(self, spec: ContainerSpec, database: str, force: bool) -> None:
        """Return once nobody else is connected to `database` (sessions of stopped units may
        take a moment to end on the server); disconnect the rest only when `force`.

        Raises:
            DatabaseError: sessions neodev does not own hold the database (they are named).
        """
        deadline = Deadline(RELEASE_WAIT, self._clock)
        while True:
            holders = await self._holders(spec, database)
            if not holders:
                return
            if deadline.passed:
                break
            await asyncio.sleep(0.05)
        if not force:
            listed = "; ".join(holders)
            raise DatabaseError(
                f"database {database!r} on {spec.name} is in use by {len(holders)} session"
                f"{'s' if len(holders) > 1 else ''} neodev does not manage: {listed}. Close "
                "them, or pass --force to disconnect them", database=database,
                title="Database in use")
        await self._sql(spec, [pgsql.terminate_sessions(database)])
        await self._release(spec, database, force=False)

    async def _holders(self, spec: ContainerSpec, database: str) -> list[str]:
        rows = await self._sql(spec, [pgsql.sessions_of(database)])
        return [f"pid {pid} {app} ({user} from {address}, {state or 'no state'})"
                for pid, user, app, address, state in (row for row in rows if len(row) == 5)]

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if self._busy.locked():
            raise DatabaseError("another database snapshot operation is running; try again "
                                "when it has finished", title="Database busy")
        async with self._busy:
            yield


def _why(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return str(getattr(error, "message", "") or error) or type(error).__name__


def _record(server: str, database_name: str, size: str, comment: str
            ) -> SnapshotRecord | None:
    """The snapshot a database is, from its comment; None for any other database."""
    meta = pgsql.read_labels(comment)
    if meta.get("kind") != MARK:
        return None
    name = str(meta.get("name", ""))
    if snapshot_database(name) != database_name:
        return None
    return SnapshotRecord(name=name, database=str(meta.get("database", "")), server=server,
                          taken_at=float(meta.get("taken_at") or 0.0),
                          size_bytes=int(size) if size.isdigit() else 0,
                          automatic=bool(meta.get("automatic")))
