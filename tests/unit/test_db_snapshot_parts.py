"""The pure parts of `neodev db`: snapshot names, which databases are snapshots, finding the
profile's Postgres, quoting, and what the CLI prints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from neodev.cli.render import format_snapshot_outcome, format_snapshots
from neodev.config.model import ContainerSpec, EnvironmentPlan, PortMapping
from neodev.config.postgres import find_postgres, is_postgres
from neodev.daemon.dbsnapshots import MARK, _record, check_name, snapshot_database
from neodev.docker.psql import quote_ident, quote_literal
from neodev.errors import ConfigError, RequestError
from neodev.protocol.db import SnapshotRecord, SnapshotRestored, SnapshotTaken


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
