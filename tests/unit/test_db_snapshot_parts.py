"""The pure parts of `neodev db`: snapshot names, which databases are snapshots, finding the
profile's Postgres, the statements and their quoting, what the CLI prints; and the snapshot
operations themselves without an Environment (a scripted server, scripted units)."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from neodev import pgsql
from neodev.cli.render import format_snapshot_outcome, format_snapshots
from neodev.config.model import ContainerSpec, EnvironmentPlan, PortMapping
from neodev.config.postgres import find_postgres, is_postgres
from neodev.daemon.dbsnapshots import (
    DATABASE_PREFIX,
    MARK,
    DatabaseSnapshots,
    _record,
    check_name,
    snapshot_database,
)
from neodev.errors import ConfigError, DatabaseError, RequestError, UnknownSnapshotError
from neodev.pgsql import quote_ident, quote_literal
from neodev.protocol.db import SnapshotDropped, SnapshotRecord, SnapshotRestored, SnapshotTaken
from neodev.protocol.units import UnitRecord, UnitState


def _meta(name: str, **more: object) -> str:
    return json.dumps({"kind": MARK, "name": name, "database": "app", "taken_at": 1.5, **more})


@pytest.mark.parametrize("name", ["base", "before-migration-42", "a", "x" * 40, "snake_case"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name
    assert len(snapshot_database(name).encode()) <= 63  # Postgres' identifier limit


@pytest.mark.parametrize("name", ["", "Base", "-lead", "has space", "x" * 41, "a/b", "é"])
def test_invalid_names_say_what_is_valid(name: str) -> None:
    with pytest.raises(RequestError, match="1-40 lower-case letters") as caught:
        check_name(name)
    assert caught.value.param == "name"


def test_only_databases_labelled_as_snapshots_of_their_own_name_count() -> None:
    record = _record("db", "neodev_snap_base", "8192", _meta("base", automatic=True))
    assert record is not None
    assert (record.name, record.database, record.server, record.size_bytes, record.automatic,
            record.taken_at) == ("base", "app", "db", 8192, True, 1.5)
    assert _record("db", "neodev_snap_base", "1", "") is None  # no comment
    assert _record("db", "neodev_snap_base", "1", "just a note") is None
    assert _record("db", "neodev_snap_base", "1", "{not json") is None
    assert _record("db", "neodev_snap_base", "1", json.dumps({"name": "base"})) is None
    assert _record("db", "neodev_snap_other", "1", _meta("base")) is None  # renamed by hand


def test_quoting_makes_any_name_safe() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"


def _plan(*containers: ContainerSpec) -> EnvironmentPlan:
    return EnvironmentPlan(profile="local", project="p", workspace=Path("/w"),
                           profile_file=Path("/w/profiles/local.toml"), network="p_default",
                           containers={c.name: c for c in containers})


def _container(name: str, image: str, **kw: object) -> ContainerSpec:
    return ContainerSpec(name=name, service=name, image=image, **kw)  # type: ignore[arg-type]


def test_the_postgres_service_is_found_by_its_conventions() -> None:
    pg = _container("db", "registry.local/pg:15", environment={"POSTGRES_PASSWORD": "x"},
                    ports=(PortMapping(container_port=5432, host_port=5432),))
    prom = _container("metrics", "prom/prometheus:v3")
    assert is_postgres(pg) and is_postgres(_container("x", "postgres:18-alpine"))
    assert not is_postgres(prom)
    assert find_postgres(_plan(pg, prom)).name == "db"
    assert find_postgres(_plan(pg, prom), "db").name == "db"
    with pytest.raises(ConfigError, match=r"'metrics' is not a Postgres service .*: db"):
        find_postgres(_plan(pg, prom), "metrics")
    with pytest.raises(ConfigError, match="has no Postgres service"):
        find_postgres(_plan(prom))
    other = _container("db2", "postgres:18")
    with pytest.raises(ConfigError, match=r"several Postgres services \(db, db2\).*--service"):
        find_postgres(_plan(pg, other))


def test_what_the_cli_prints() -> None:
    assert "no snapshots" in format_snapshots([])
    table = format_snapshots([
        SnapshotRecord(name="base", database="app", server="db", taken_at=0,
                       size_bytes=3 * 1024 * 1024, automatic=False),
        SnapshotRecord(name="before-restore-1", database="app", server="db", taken_at=0,
                       size_bytes=2048, automatic=True)])
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "DATABASE", "TAKEN", "SIZE"]
    assert "3.0MiB" in lines[1] and "automatic" not in lines[1]
    assert lines[2].endswith("automatic (before a restore)")
    snap = SnapshotRecord(name="base", database="app", server="db", taken_at=0,
                          size_bytes=1024, automatic=False)
    assert format_snapshot_outcome(SnapshotTaken(snap, ("backend",), 1.25)) \
        == "snapshot base of app taken in 1.2s (1.0KiB) (backend stopped and started again)"
    restored = format_snapshot_outcome(
        SnapshotRestored(snap, replace(snap, name="b-r-1"), (), 2))
    assert restored.splitlines() == [
        "restored app from snapshot base in 2.0s",
        "the data it replaced is snapshot b-r-1 (`neodev db restore b-r-1` to go back)"]


def test_quoting_a_backslash_reads_the_same_whatever_the_server_setting() -> None:
    assert quote_literal('{"name": "caf\\u00e9"}') == "E'{\"name\": \"caf\\\\u00e9\"}'"


def test_the_template_statements() -> None:
    assert pgsql.create_database("c") == 'CREATE DATABASE "c"'
    assert pgsql.create_database("c", template="t", owner="o", file_copy=True) == \
        'CREATE DATABASE "c" TEMPLATE "t" OWNER "o" STRATEGY = FILE_COPY'
    assert pgsql.file_copy_supported([["150004"]]) and not pgsql.file_copy_supported([["140011"]])
    assert not pgsql.file_copy_supported([])
    assert pgsql.seal_template("t") == \
        'ALTER DATABASE "t" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'
    assert pgsql.unseal_template("t", reopen=True) == \
        'ALTER DATABASE "t" WITH IS_TEMPLATE false ALLOW_CONNECTIONS true'
    # A sealed template cannot be dropped, nor can a database somebody is connected to.
    assert pgsql.drop_database("t") == [pgsql.unseal_template("t"), pgsql.terminate_sessions("t"),
                                        'DROP DATABASE IF EXISTS "t"']
    assert pgsql.label_database("t", {"b": 1, "a": "x"}) == \
        'COMMENT ON DATABASE "t" IS \'{"a": "x", "b": 1}\''
    assert pgsql.label_database("t", None) == 'COMMENT ON DATABASE "t" IS NULL'
    assert pgsql.read_labels('{"a": "x"}') == {"a": "x"}
    assert pgsql.read_labels("a note") == pgsql.read_labels("[1]") == pgsql.read_labels(None) == {}
    assert "starts_with(datname, 'neodev_snap_')" in pgsql.list_databases("neodev_snap_")


# -- the snapshots without an Environment: a scripted server and scripted units -----------


class FakeServer:
    """The dev server as the snapshots see it: databases with comments and contents (what data
    each holds: a copy holds its template's), one user session holding none; statements
    recorded, and the ones that change databases applied.

    Failure injection: `refuse` (a statement prefix) makes the server refuse it; `fail` (a
    prefix, with `error` and `after`) makes the call raise `error` before the statement runs,
    or after the server ran it when `after` (a `docker exec` lost once the copy was made).
    """

    def __init__(self, refuse: str | None = None) -> None:
        self.databases: dict[str, str] = {"app": ""}
        self.contents: dict[str, str] = {"app": "the dev data"}
        self.statements: list[str] = []
        self.refuse = refuse
        self.fail: str | None = None
        self.error: BaseException = RuntimeError("injected")
        self.after = False

    async def __call__(self, spec: ContainerSpec, statements: Sequence[str]) -> pgsql.Rows:
        rows: pgsql.Rows = []
        for statement in statements:
            self.statements.append(statement)
            if self.refuse and statement.startswith(self.refuse):
                raise DatabaseError("Postgres refused: disk full")
            failing = self.fail is not None and statement.startswith(self.fail)
            if failing and not self.after:
                raise self.error
            rows = self._run(statement)
            if failing:
                raise self.error
        return rows

    def _run(self, statement: str) -> pgsql.Rows:
        if statement == pgsql.SERVER_VERSION:
            return [["150004"]]
        names = sorted(n for n in self.databases if n.startswith(DATABASE_PREFIX))
        if statement == pgsql.list_databases(DATABASE_PREFIX, sizes=True):
            return [[n, "8192", self.databases[n]] for n in names]
        if statement == pgsql.list_databases(DATABASE_PREFIX):
            return [[n, self.databases[n]] for n in names]
        if match := re.fullmatch(r"SELECT 1 FROM pg_database WHERE datname = '(.+)'", statement):
            return [["1"]] if match[1] in self.databases else []
        if match := re.fullmatch(r"SELECT pg_get_userbyid\(datdba\) .* = '(.+)'", statement):
            return [["neotool"]] if match[1] in self.databases else []
        if (match := re.match(r'(?:ALTER|COMMENT ON) DATABASE "(.+?)"', statement)) \
                and match[1] not in self.databases:
            raise DatabaseError(f'Postgres refused: database "{match[1]}" does not exist')
        if match := re.fullmatch(r'CREATE DATABASE "(.+?)" TEMPLATE "(.+?)".*', statement):
            assert match[1] not in self.databases, f"database {match[1]} already exists"
            self.databases[match[1]] = ""
            self.contents[match[1]] = self.contents[match[2]]
        elif match := re.fullmatch(r"COMMENT ON DATABASE \"(.+?)\" IS (NULL|'(.*)')", statement):
            self.databases[match[1]] = (match[3] or "").replace("''", "'")
        elif match := re.fullmatch(r'ALTER DATABASE "(.+?)" RENAME TO "(.+?)"', statement):
            assert match[2] not in self.databases, f"database {match[2]} already exists"
            self.databases[match[2]] = self.databases.pop(match[1])
            self.contents[match[2]] = self.contents.pop(match[1])
        elif match := re.fullmatch(r'DROP DATABASE IF EXISTS "(.+?)"', statement):
            self.databases.pop(match[1], None)
            self.contents.pop(match[1], None)
        return []  # sessions_of: nobody else is connected


class FakeUnits:
    """The server running and ready, `backend` using it."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def status_of(self, name: str) -> UnitRecord:
        return UnitRecord(name=name, kind="container", state=UnitState.RUNNING, ready=True)

    @contextlib.asynccontextmanager
    async def paused_users(self, server: str) -> AsyncIterator[list[str]]:
        self.events.append(f"stop users of {server}")
        try:
            yield ["backend"]
        finally:
            self.events.append(f"start users of {server}")


def _snapshots(server: FakeServer, units: FakeUnits) -> DatabaseSnapshots:
    pg = _container("db", "postgres:18", environment={"POSTGRES_PASSWORD": "x",
                                                      "POSTGRES_DB": "app"})
    ticks = iter(range(100))
    return DatabaseSnapshots(_plan(pg), server, units, clock=lambda: float(next(ticks)),
                             wall=lambda: 1_700_000_000.0)


async def test_take_copies_and_seals_with_the_users_paused() -> None:
    server, units = FakeServer(), FakeUnits()
    outcome = await _snapshots(server, units).take("base")
    assert outcome == SnapshotTaken(SnapshotRecord(
        name="base", database="app", server="db", taken_at=1_700_000_000.0, size_bytes=8192,
        automatic=False), paused=("backend",), seconds=2.0)
    assert units.events == ["stop users of db", "start users of db"]
    assert pgsql.create_database("neodev_snap_base", template="app", file_copy=True) \
        in server.statements
    assert server.statements[-2] == pgsql.seal_template("neodev_snap_base")
    with pytest.raises(DatabaseError, match="a snapshot named 'base' exists already"):
        await _snapshots(server, units).take("base")


async def test_a_failed_restore_puts_the_current_database_back() -> None:
    server = FakeServer()
    snapshots = _snapshots(server, FakeUnits())
    await snapshots.take("base")
    server.refuse = 'CREATE DATABASE "app"'
    with pytest.raises(DatabaseError, match="disk full"):
        await snapshots.restore("base")
    assert server.databases["app"] == ""  # renamed back, its comment cleared
    assert sorted(server.databases) == ["app", "neodev_snap_base"]
    assert server.statements[-3:] == [
        pgsql.unseal_template("neodev_snap_before-restore-20231114-221320", reopen=True),
        pgsql.rename_database("neodev_snap_before-restore-20231114-221320", "app"),
        pgsql.label_database("app", None)]


async def test_restore_keeps_the_replaced_data_and_drop_removes_a_snapshot() -> None:
    server = FakeServer()
    snapshots = _snapshots(server, FakeUnits())
    await snapshots.take("base")
    outcome = await snapshots.restore("base")
    assert outcome.restored.name == "base" and outcome.paused == ("backend",)
    assert outcome.saved is not None
    assert (outcome.saved.name, outcome.saved.automatic) == ("before-restore-20231114-221320",
                                                             True)
    assert pgsql.create_database("app", template="neodev_snap_base", owner="neotool",
                                 file_copy=True) in server.statements
    assert await snapshots.drop("base") == SnapshotDropped(outcome.restored)
    assert [r.name for r in await snapshots.listing()] == ["before-restore-20231114-221320"]
    with pytest.raises(UnknownSnapshotError, match="no snapshot 'base' on db"):
        await snapshots.drop("base")
