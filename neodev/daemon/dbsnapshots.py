"""Snapshots of the dev database: take, list, restore, drop, in seconds.

A snapshot is `CREATE DATABASE neodev_snap_<name> TEMPLATE <db>`: Postgres copies the
database's files (no dump, no replay), and the copy is sealed as a template nobody can connect
to or change. Postgres refuses to copy a database anybody is connected to, so the units that
use it (those that depend on the Postgres unit) are stopped for the copy and started again
afterwards; any other session (a psql, an IDE) is named in the error and left alone unless
`force` says to disconnect it.

Restore never loses the current data: the current database is first renamed (instant) into an
automatic `before-restore-<time>` snapshot, then the snapshot is copied into its place. The
newest KEEP_AUTOMATIC automatic snapshots are kept. One database operation runs at a time.

SQL runs through the psql inside the Postgres container (`neodev.docker.psql`); the snapshot's
metadata (its name, the database, when) is the database's comment, so `list` needs nothing
but the server, and snapshots survive the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from neodev.config.model import ContainerSpec
from neodev.config.postgres import find_postgres, postgres_credentials
from neodev.docker.psql import psql, quote_ident, quote_literal
from neodev.errors import DatabaseError, RequestError, UnknownSnapshotError
from neodev.protocol.db import (
    SnapshotDropped,
    SnapshotRecord,
    SnapshotRestored,
    SnapshotTaken,
)
from neodev.protocol.units import UnitState

if TYPE_CHECKING:
    from docker import DockerClient

    from neodev.daemon.environment import Environment

DATABASE_PREFIX = "neodev_snap_"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
"""A snapshot name: short enough that the database name stays under Postgres' 63 bytes."""
AUTOMATIC_PREFIX = "before-restore-"
KEEP_AUTOMATIC = 3
RELEASE_WAIT = 5.0
"""Seconds for the sessions of stopped units to end on the server before they count as held."""
MARK = "neodev-snapshot"
"""The comment's `kind`: only databases carrying it are snapshots."""


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
    """The dev database's snapshots, for the daemon's API."""

    def __init__(self, env: Environment, clock: Callable[[], float] = time.monotonic) -> None:
        self._env = env
        self._clock = clock
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
            async with self._paused(spec) as paused:
                await self._release(spec, database, force)
                await self._sql(spec, [
                    f"CREATE DATABASE {quote_ident(snapshot_database(name))} "
                    f"TEMPLATE {quote_ident(database)}{await self._strategy(spec)}",
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
            saved = AUTOMATIC_PREFIX + time.strftime("%Y%m%d-%H%M%S", time.gmtime(
                self._env.wall()))
            began = self._clock()
            async with self._paused(spec) as paused:
                await self._release(spec, database, force)
                owner = await self._owner(spec, database)
                await self._sql(spec, [
                    f"ALTER DATABASE {quote_ident(database)} "
                    f"RENAME TO {quote_ident(snapshot_database(saved))}",
                    *self._seal(saved, database, automatic=True)])
                try:
                    await self._sql(spec, [
                        f"CREATE DATABASE {quote_ident(database)} "
                        f"TEMPLATE {quote_ident(snapshot_database(name))} "
                        f"OWNER {quote_ident(owner)}{await self._strategy(spec)}"])
                except DatabaseError:
                    await self._sql(spec, [
                        *self._unseal(saved),
                        f"ALTER DATABASE {quote_ident(snapshot_database(saved))} "
                        f"RENAME TO {quote_ident(database)}",
                        f"COMMENT ON DATABASE {quote_ident(database)} IS NULL"])
                    raise
            kept = await self._find(spec, saved)
            await self._prune_automatic(spec)
        return SnapshotRestored(record, kept, tuple(paused), round(self._clock() - began, 3))

    async def drop(self, name: str, service: str | None = None) -> SnapshotDropped:
        """Drop snapshot `name`.

        Raises:
            UnknownSnapshotError: no such snapshot.
        """
        check_name(name)
        spec = self._server(service)
        async with self._exclusive():
            record = await self._require(spec, name)
            await self._drop(spec, name)
        return SnapshotDropped(record)

    # -- the server -----------------------------------------------------------------------

    def _server(self, service: str | None) -> ContainerSpec:
        """The Postgres unit's spec, if it is running and healthy."""
        spec = find_postgres(self._env.plan, service)
        record = self._env.engine.status_of(spec.name)
        if record.state is not UnitState.RUNNING or not record.ready:
            state = f"{record.state}, not ready" if record.state is UnitState.RUNNING \
                else str(record.state)
            raise DatabaseError(f"{spec.name} is {state}: the snapshots live on its server; "
                                f"start it first (`neodev start --wait {spec.name}`)",
                                title="Postgres not running")
        return spec

    async def _sql(self, spec: ContainerSpec, statements: list[str]) -> list[list[str]]:
        # Imported here, not with the module: the daemon loads the docker SDK only for the
        # operations that need the engine (environment.py says why).
        from neodev.docker.project import running_service_containers

        user, password, _ = postgres_credentials(spec)
        project = self._env.plan.project

        def run(client: DockerClient) -> list[list[str]]:
            found = running_service_containers(client, project, spec.service)
            if not found:
                raise DatabaseError(f"no running container of {spec.name} in compose project "
                                    f"{project!r}", title="Postgres not running")
            return psql(found[0], user, password, statements)

        return await self._env.clients.call(f"run SQL in {spec.name}", run)

    async def _list(self, spec: ContainerSpec) -> list[SnapshotRecord]:
        rows = await self._sql(spec, [
            "SELECT datname, pg_database_size(oid), shobj_description(oid, 'pg_database') "
            f"FROM pg_database WHERE starts_with(datname, {quote_literal(DATABASE_PREFIX)}) "
            "ORDER BY datname"])
        records = [_record(spec.name, *row) for row in rows if len(row) == 3]
        return sorted((r for r in records if r is not None), key=lambda r: r.taken_at)

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

    async def _owner(self, spec: ContainerSpec, database: str) -> str:
        rows = await self._sql(spec, [
            "SELECT pg_get_userbyid(datdba) FROM pg_database "
            f"WHERE datname = {quote_literal(database)}"])
        if not rows:
            raise DatabaseError(f"database {database!r} does not exist on {spec.name}",
                                database=database)
        return rows[0][0]

    async def _strategy(self, spec: ContainerSpec) -> str:
        """FILE_COPY where the server has a choice (15+): it copies the files with one
        checkpoint, where the default WAL_LOG writes the whole database through the WAL again
        (benchmarks/db_snapshot.py measures the difference)."""
        rows = await self._sql(spec, ["SHOW server_version_num"])
        version = int(rows[0][0]) if rows and rows[0][0].isdigit() else 0
        return " STRATEGY = FILE_COPY" if version >= 150000 else ""

    def _seal(self, name: str, database: str, automatic: bool = False) -> list[str]:
        """The statements that label a copy as snapshot `name` and make it read-only."""
        comment = json.dumps({"kind": MARK, "name": name, "database": database,
                              "taken_at": self._env.wall(), "automatic": automatic})
        target = quote_ident(snapshot_database(name))
        return [f"COMMENT ON DATABASE {target} IS {quote_literal(comment)}",
                f"ALTER DATABASE {target} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"]

    def _unseal(self, name: str) -> list[str]:
        target = quote_ident(snapshot_database(name))
        return [f"ALTER DATABASE {target} WITH IS_TEMPLATE false ALLOW_CONNECTIONS true"]

    async def _drop(self, spec: ContainerSpec, name: str) -> None:
        await self._sql(spec, [
            f"ALTER DATABASE {quote_ident(snapshot_database(name))} WITH IS_TEMPLATE false",
            f"DROP DATABASE {quote_ident(snapshot_database(name))}"])

    async def _prune_automatic(self, spec: ContainerSpec) -> None:
        automatic = [r for r in await self._list(spec) if r.automatic]
        for record in automatic[:-KEEP_AUTOMATIC]:
            await self._drop(spec, record.name)

    # -- who holds the database -----------------------------------------------------------

    async def _release(self, spec: ContainerSpec, database: str, force: bool) -> None:
        """Return once nobody else is connected to `database` (sessions of stopped units may
        take a moment to end on the server); disconnect the rest only when `force`.

        Raises:
            DatabaseError: sessions neodev does not own hold the database (they are named).
        """
        deadline = self._clock() + RELEASE_WAIT
        while True:
            holders = await self._holders(spec, database)
            if not holders:
                return
            if self._clock() >= deadline:
                break
            await asyncio.sleep(0.05)
        if not force:
            listed = "; ".join(holders)
            raise DatabaseError(
                f"database {database!r} on {spec.name} is in use by {len(holders)} session"
                f"{'s' if len(holders) > 1 else ''} neodev does not manage: {listed}. Close "
                "them, or pass --force to disconnect them", database=database,
                title="Database in use")
        await self._sql(spec, [
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = {quote_literal(database)} AND pid <> pg_backend_pid()"])
        await self._release(spec, database, force=False)

    async def _holders(self, spec: ContainerSpec, database: str) -> list[str]:
        rows = await self._sql(spec, [
            "SELECT pid, usename, coalesce(nullif(application_name, ''), 'unnamed client'), "
            "coalesce(host(client_addr), 'local socket'), coalesce(state, '') "
            "FROM pg_stat_activity "
            f"WHERE datname = {quote_literal(database)} AND pid <> pg_backend_pid()"])
        return [f"pid {pid} {app} ({user} from {address}, {state or 'no state'})"
                for pid, user, app, address, state in (row for row in rows if len(row) == 5)]

    # -- around the copy ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if self._busy.locked():
            raise DatabaseError("another database snapshot operation is running; try again "
                                "when it has finished", title="Database busy")
        async with self._busy:
            yield

    @contextlib.asynccontextmanager
    async def _paused(self, spec: ContainerSpec) -> AsyncIterator[list[str]]:
        """Stop the running units that depend on the server; start them again afterwards,
        whatever happened in between."""
        engine = self._env.engine
        users = [name for name, unit in self._env.plan.units.items()
                 if any(d.service == spec.name for d in unit.depends_on)
                 and engine.supervisors[name].supervising]
        if users:
            await engine.stop(users)
        try:
            yield users
        finally:
            if users:
                await self._env.start(users)


def _record(server: str, database_name: str, size: str, comment: str
            ) -> SnapshotRecord | None:
    """The snapshot a database is, from its comment; None for any other database."""
    try:
        meta = json.loads(comment) if comment.startswith("{") else None
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("kind") != MARK:
        return None
    name = str(meta.get("name", ""))
    if snapshot_database(name) != database_name:
        return None
    return SnapshotRecord(name=name, database=str(meta.get("database", "")), server=server,
                          taken_at=float(meta.get("taken_at") or 0.0),
                          size_bytes=int(size) if size.isdigit() else 0,
                          automatic=bool(meta.get("automatic")))
