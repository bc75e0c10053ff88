"""The pytest plugin's pure parts, without Docker: endpoints, run state, owner judgement,
throwaway secrets, start order, migrations, evidence, and what importing the plugin costs."""

from __future__ import annotations

import fcntl
import functools
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from neodev.config.model import ContainerSpec, PortMapping
from neodev.config.postgres import libpq_dsn, postgres_credentials
from neodev.docker.labels import pytest_labels
from neodev.errors import DatabaseError, DockerError, RunLockTimeout, ServiceError
from neodev.process.tree import is_alive
from neodev.testing import settings as settings_module
from neodev.testing.endpoints import (
    PostgresService,
    postgres_endpoint,
    service_endpoint,
)
from neodev.testing.evidence import log_sections
from neodev.testing.janitor import owner_gone
from neodev.testing.migrations import ini_migrations
from neodev.testing.run import RunInfo, RunState
from neodev.testing.services import NeodevSession
from neodev.testing.settings import Settings, load_test_plan
from tests.constants import REPO_ROOT

FIXTURE_WS = REPO_ROOT / "tests" / "fixtures" / "config" / "ws"


def pg_spec(**env: str) -> ContainerSpec:
    return ContainerSpec(name="postgres", service="postgres", image="postgres:18-alpine",
                         environment=env, ports=(PortMapping(container_port=5432,
                                                             host_port=5432),))


def test_postgres_endpoint_dsn_quotes_and_hides_the_password() -> None:
    pg = postgres_endpoint(pg_spec(POSTGRES_USER="neo tool", POSTGRES_PASSWORD="p@ss:w/rd",
                                   POSTGRES_DB="app"), {5432: 40001}, "c1")
    assert pg.dsn == "postgresql://neo%20tool:p%40ss%3Aw%2Frd@127.0.0.1:40001/app"
    assert pg.url == "postgresql://neo%20tool@127.0.0.1:40001/app"
    assert (pg.host, pg.port, pg.ports) == ("127.0.0.1", 40001, {5432: 40001})
    assert "p@ss" not in repr(pg) and "p%40ss" not in repr(pg)
    other = pg.with_database("t_1")
    assert other.dsn.endswith("@127.0.0.1:40001/t_1") and other.password == pg.password
    assert isinstance(other, PostgresService)


def test_postgres_credentials_follow_the_image_defaults() -> None:
    assert postgres_credentials(pg_spec(POSTGRES_PASSWORD="x")) == ("postgres", "x", "postgres")
    assert postgres_credentials(pg_spec(POSTGRES_USER="neo")) == ("neo", "", "neo")


def test_service_endpoint_orders_ports_like_the_spec_and_names_missing_ones() -> None:
    spec = ContainerSpec(name="prometheus", service="prometheus", image="p", ports=(
        PortMapping(container_port=9090, host_port=9090),
        PortMapping(container_port=9091, host_port=9091)))
    ep = service_endpoint(spec, {9091: 40002, 9090: 40001}, "c2")
    assert (ep.port, ep.url) == (40001, "http://127.0.0.1:40001")
    assert list(ep.ports) == [9090, 9091]
    with pytest.raises(KeyError, match=r"does not publish container port 80 .*9090, 9091"):
        ep.host_port(80)
    assert libpq_dsn("h", 1, "u", None, "d") == "postgresql://u@h:1/d"


def test_owner_is_gone_only_when_this_host_says_so() -> None:
    host = socket.gethostname()
    labels = pytest_labels("s", 4242, 100.0, host)
    assert owner_gone(labels, alive=lambda pid, started: False)
    assert not owner_gone(labels, alive=lambda pid, started: True)
    # Another machine sharing the engine: its pids mean nothing here.
    assert not owner_gone(pytest_labels("s", 4242, 100.0, "elsewhere"),
                          alive=lambda pid, started: False)
    assert not owner_gone({**labels, "dev.neodev.pytest.owner-pid": "x"},
                          alive=lambda pid, started: False)
    # The real check: this process is alive, with its own create time only.
    me = RunInfo.new()
    assert not owner_gone(me.labels)
    assert owner_gone(pytest_labels("s", me.owner_pid, me.owner_started - 100, host))


def test_an_owner_read_a_second_off_is_alive_not_gone() -> None:
    """Create times come from /proc/stat's boot time, which moves when the clock is stepped:
    another process can read the owner's a second off. Judged gone, its live run would lose
    its containers and state to a janitor."""
    me = RunInfo.new()
    host = socket.gethostname()
    assert not owner_gone(pytest_labels("s", me.owner_pid, me.owner_started - 1.0, host))
    assert not owner_gone(pytest_labels("s", me.owner_pid, me.owner_started + 1.0, host))
    assert not is_alive(me.owner_pid, me.owner_started - 1.0)  # a kill's identity stays strict


def test_run_state_is_shared_reentrant_and_bounded(tmp_path: Path) -> None:
    state = RunState(tmp_path / "run")
    assert not state.exists()
    with state.locked(1, "test") as data:
        data["services"] = {"postgres": {"container": "abc"}}
        with state.locked(1, "nested") as again:  # re-entrant: same dict, no self-deadlock
            assert again is data
    assert RunState(tmp_path / "run").read() == {"services": {"postgres": {"container": "abc"}}}
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700
    # Another holder (a second open file description = another xdist worker).
    with open(tmp_path / "run" / "lock", "a+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(RunLockTimeout, match=r"held .* for more than 0.2 s .* start x"), \
                state.locked(0.2, "start x"):
            pass


def test_run_info_travels_to_workers() -> None:
    run = RunInfo.new()
    worker = RunInfo.from_dict(run.to_dict()).for_worker("gw1")
    assert (worker.session, worker.owner_pid, worker.worker) == (run.session, run.owner_pid,
                                                                 "gw1")
    assert run.is_owner and not worker.is_owner
    assert worker.labels == run.labels  # the same owner on everything, whoever created it


def _workspace_without_password(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, ws)
    (ws / "dev.env").write_text("APP_ROOT=./app\n")
    return ws


def test_missing_secrets_get_throwaway_values_and_nothing_is_written(tmp_path: Path) -> None:
    ws = _workspace_without_password(tmp_path)
    settings = Settings(workspace=ws, profile="good")
    plan, throwaway = load_test_plan(settings, {})
    assert list(throwaway) == ["DB_PASSWORD"] and len(throwaway["DB_PASSWORD"]) >= 24
    assert plan.containers["db"].environment["POSTGRES_PASSWORD"] == throwaway["DB_PASSWORD"]
    assert not (ws / ".neodev").exists()  # the developer's workspace is left alone
    shared = load_test_plan(settings, {}, lambda names: {n: "shared-value" for n in names})
    assert shared[0].containers["db"].environment["POSTGRES_PASSWORD"] == "shared-value"
    # A value from any layer wins: nothing is made up then.
    _, none = load_test_plan(settings, {"DB_PASSWORD": "given"})
    assert none == {}


def test_session_start_order_and_names(tmp_path: Path) -> None:
    ws = _workspace_without_password(tmp_path)
    run = RunInfo(session="abc123abc123", owner_pid=1, owner_started=1.0, owner_host="h",
                  directory=str(tmp_path / "run"))
    session = NeodevSession(Settings(workspace=ws, profile="good"), run, environ={})
    assert session.start_order(["cache"]) == ["db", "cache"]  # cache depends on db
    assert session.project == "fixture-pytest-abc123abc123"
    assert session.network == "fixture-pytest-abc123abc123_default"
    with pytest.raises(ServiceError, match="'api' is a process, not a container service"):
        session.start_order(["api"])
    with pytest.raises(ServiceError, match=r"'dbb' is not a service .*did you mean 'db'"):
        session.start_order(["dbb"])
    # The throwaway password is known to the masking, and shared through the run state.
    secret = RunState(tmp_path / "run").read()["secrets"]["DB_PASSWORD"]
    assert secret in session.secrets()


def test_workers_of_a_run_share_the_throwaway_secrets(tmp_path: Path) -> None:
    ws = _workspace_without_password(tmp_path)
    owner = RunInfo(session="abc123abc123", owner_pid=1, owner_started=1.0, owner_host="h",
                    directory=str(tmp_path / "run"))
    first = NeodevSession(Settings(workspace=ws, profile="good"), owner.for_worker("gw0"), {})
    second = NeodevSession(Settings(workspace=ws, profile="good"), owner.for_worker("gw1"), {})
    password = first.plan.containers["db"].environment["POSTGRES_PASSWORD"]
    assert second.plan.containers["db"].environment["POSTGRES_PASSWORD"] == password
    assert password in second.secrets()


def test_start_order_is_computed_once_per_plan(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(name: str, original: Callable[..., Any], *args: Any) -> Any:
        calls.append(name)
        return original(*args)

    for name in ("start_waves", "with_dependencies"):
        monkeypatch.setattr(settings_module, name, functools.partial(
            counted, name, getattr(settings_module, name)))
    session = NeodevSession(Settings(workspace=_workspace_without_password(tmp_path),
                                     profile="good"), RunInfo.new(), environ={})
    for _ in range(3):
        assert session.start_order(["cache"]) == ["db", "cache"]
        assert session.start_order(["db", "cache"]) == ["db", "cache"]
    assert calls == ["start_waves", "with_dependencies", "with_dependencies"]  # cache, db


def test_a_service_start_takes_the_run_lock_once_and_postgres_is_found_by_its_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture profile's Postgres service is called `db`; `cache` depends on it."""
    run = RunInfo(session="abc123abc123", owner_pid=1, owner_started=1.0, owner_host="h",
                  directory=str(tmp_path / "run"))
    session = NeodevSession(Settings(workspace=_workspace_without_password(tmp_path),
                                     profile="good"), run, environ={"DB_PASSWORD": "given"})
    taken: list[str] = []
    locked = RunState.locked

    def counted_lock(state: RunState, timeout: float, what: str) -> Any:
        taken.append(what)
        return locked(state, timeout, what)

    monkeypatch.setattr(RunState, "locked", counted_lock)
    started: list[str] = []

    def shared(spec: ContainerSpec, names: object, state: dict[str, object]
               ) -> dict[str, object]:
        started.append(spec.name)
        if spec.name == "cache":
            raise DockerError("image redis:7 is missing")
        return {"container": f"id-{spec.name}", "ports": {"5432": 40001}}

    monkeypatch.setattr(session.containers, "shared", shared)
    assert session.postgres_service == "db"
    with pytest.raises(DockerError, match="redis:7 is missing"):
        session.service("cache")
    assert (started, taken) == (["db", "cache"], ["start cache"])  # db and cache: one lock
    postgres = session.postgres()
    assert isinstance(postgres, PostgresService)
    assert (postgres.name, postgres.port, postgres.dbname) == ("db", 40001, "app")
    with pytest.raises(DockerError, match="redis:7 is missing"):  # remembered, not retried
        session.service("cache")
    assert (started, taken) == (["db", "cache"], ["start cache"])
    assert RunState(tmp_path / "run").read()["owner"]["session"] == "abc123abc123"


def test_ini_migrations_call_functions_and_name_what_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mymigrations.py").write_text(
        "calls = []\ndef up(dsn):\n    calls.append(dsn)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    target = postgres_endpoint(pg_spec(POSTGRES_PASSWORD="pw"), {5432: 1}, "c")
    call, missing_module, missing_file = ini_migrations(
        ["mymigrations:up", "nosuchmodule:up", "schema/missing.sql"], tmp_path)
    call(target)
    import mymigrations  # type: ignore[import-not-found]

    assert mymigrations.calls == [target.dsn]
    with pytest.raises(DatabaseError, match="neodev_migrate = nosuchmodule:up: cannot load"):
        missing_module(target)
    with pytest.raises(DatabaseError, match=r"cannot read the migration file .*missing.sql"):
        missing_file(target)


def test_log_sections_only_for_started_services() -> None:
    class Source:
        def logs(self, name: str, lines: int) -> str | None:
            return {"postgres": "line 1\nline 2\n"}.get(name)

    assert log_sections(Source(), ["postgres", "prometheus"], 20) == [
        ("neodev: last 20 log lines of service postgres", "line 1\nline 2")]
