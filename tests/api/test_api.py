"""The daemon API in process: typed records, the whole truth on the event stream, per-unit
actions, details, log queries, jobs and input validation.

Scripted runners (tests/api/scripted.py) under virtual time, through httpx's ASGI transport
and the dashboard's own client class.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from neodev.client import calls
from neodev.cluster import ClusterReport, ProgressStep
from neodev.daemon.api import create_app
from neodev.errors import (
    ConfigError,
    JobBusyError,
    RequestError,
    UnitStateError,
    UnknownUnitError,
    error_from_dict,
)
from neodev.protocol import (
    PROTOCOL_VERSION,
    Event,
    Resync,
    Snapshot,
    UnitRecord,
    UnitState,
    encode,
    fold,
)
from neodev.protocol.endpoints import ENDPOINTS
from tests.api.scripted import plan_of, process, scripted
from tests.supervisor.fakes import FakeRunner, Run
from tests.supervisor.vclock import virtual_time


class Folder:
    """A client that knows only the API: folds `/v1/events` into its own view of the units."""

    def __init__(self) -> None:
        self.units: dict[str, UnitRecord] = {}
        self.seq: int | None = None
        self.instance: str | None = None
        self.events: list[Event] = []
        self._ahead: list[Event] = []
        self._asked: int | None = None

    async def catch_up(self, client: Any, upto: int) -> None:
        """Fold every event up to `upto` (later ones are kept for the next step)."""
        if self._asked is None or self._asked < upto:
            async for event in client.stream(calls.events(since=self._asked,
                                                          instance=self.instance,
                                                          follow=False)):
                self._ahead.append(event)
                self._asked = event.seq
        while self._ahead and self._ahead[0].seq <= upto:
            event = self._ahead.pop(0)
            self.events.append(event)
            if isinstance(event, Snapshot):
                self.instance = event.instance
            fold(self.units, event)
            self.seq = event.seq


async def assert_fold_equals_status(folder: Folder, client: Any) -> None:
    """The status at its seq S equals the fold of the stream up to S (time moves on while the
    two requests run, so the comparison is made at S exactly)."""
    status = await client.call(calls.status())
    await folder.catch_up(client, status.seq)
    assert folder.seq == status.seq
    assert [folder.units[u.name] for u in status.units] == list(status.units)


@virtual_time
async def test_folding_the_stream_gives_exactly_the_status_at_every_step(tmp_path: Path) -> None:
    crash = Run(exit_after=0.4, exit_code=1, output="api: boom")
    runners = {"api": FakeRunner("api", runs=[crash, crash, crash, Run()])}
    plan = plan_of(tmp_path, process("db", tmp_path),
                   process("api", tmp_path, "db", build=("make",)))
    async with scripted(tmp_path, plan, runners) as s:
        folder = Folder()
        await assert_fold_equals_status(folder, s.client)
        assert isinstance(folder.events[0], Snapshot)
        await s.client.call(calls.start())
        for _ in range(30):  # start, then a crash loop, backoff, recovery, stats samples
            await asyncio.sleep(0.45)
            await assert_fold_equals_status(folder, s.client)
        assert any(r.crash_loop for e in folder.events if hasattr(e, "status")
                   for r in [e.status])
        await s.client.call(calls.act("api", "reload"))
        await assert_fold_equals_status(folder, s.client)
        assert folder.units["api"].last_reload is not None
        await s.client.call(calls.act("api", "stop"))
        await assert_fold_equals_status(folder, s.client)
        assert folder.units["api"].state is UnitState.STOPPED
        await s.client.call(calls.stop())
        await assert_fold_equals_status(folder, s.client)
        seqs = [e.seq for e in folder.events if not isinstance(e, Snapshot)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, one more each


@virtual_time
async def test_a_since_the_daemon_no_longer_holds_gives_a_resync_and_a_snapshot(
        tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path))
    async with scripted(tmp_path, plan) as s:
        await s.client.call(calls.start())
        await asyncio.sleep(5)
        status = await s.client.call(calls.status())
        events = [e async for e in s.client.stream(calls.events(since=status.seq,
                                                                 follow=False))]
        assert events == []  # up to date: nothing to replay
        s.env.bus._ring.clear()  # as if the ring had moved past `since`
        events = [e async for e in s.client.stream(calls.events(since=1, follow=False))]
        assert isinstance(events[0], Resync) and events[0].missed == events[0].seq - 1
        assert events[0].seq >= status.seq
        assert isinstance(events[1], Snapshot) and events[1].seq == events[0].seq
        other = [e async for e in s.client.stream(
            calls.events(since=3, instance="another-daemon", follow=False))]
        assert isinstance(other[0], Resync) and "restarted" in other[0].why
        assert isinstance(other[1], Snapshot)


@virtual_time
async def test_a_subscriber_that_falls_behind_is_told_how_much_it_missed() -> None:
    from neodev.engine.events import EventBus
    from neodev.protocol import LogEvent, LogRecord

    bus = EventBus("x", queue_size=5)
    sub = bus.subscribe()
    for i in range(12):
        bus.emit(LogEvent, record=LogRecord(i, "u", 0.0, "stdout", f"line {i}"))
    first = await sub.next()
    assert isinstance(first, Resync) and first.seq == 12
    got = []
    while sub.pending():
        got.append(await sub.next())
    # Never a silent gap: what it got plus what it was told it missed is everything.
    assert len(got) + first.missed == 12
    bus.emit(LogEvent, record=LogRecord(13, "u", 0.0, "stdout", "after"))
    after = await sub.next()
    assert after.seq == 13


@virtual_time
async def test_per_unit_actions_and_their_typed_errors(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path), process("api", tmp_path, "db"))
    async with scripted(tmp_path, plan) as s:
        started = await s.client.call(calls.act("api", "start"))  # brings its dependency
        assert started.unit.desired == "running"
        await asyncio.sleep(3)
        assert s.runners["db"].starts == 1 and s.runners["api"].starts == 1
        with pytest.raises(UnitStateError) as already:
            await s.client.call(calls.act("api", "start"))
        assert (already.value.unit, already.value.action) == ("api", "start")
        assert already.value.state in ("running", "starting")
        await s.client.call(calls.act("api", "restart"))
        assert s.runners["api"].starts == 2
        stopped = await s.client.call(calls.act("api", "stop"))
        assert stopped.unit.state == "stopped"
        with pytest.raises(UnitStateError) as not_running:
            await s.client.call(calls.act("api", "stop"))
        assert not_running.value.state == "stopped" and "api" in not_running.value.message
        with pytest.raises(UnitStateError, match="start it first"):
            await s.client.call(calls.act("api", "reload"))
        with pytest.raises(UnknownUnitError) as unknown:
            await s.client.call(calls.act("nope", "restart"))
        assert unknown.value.unit == "nope" and unknown.value.valid == ["api", "db"]
        with pytest.raises(RequestError, match="unknown action"):
            await s.client.call(calls.act("api", "explode"))


@virtual_time
async def test_unit_details_mask_secrets_and_show_the_start_timeline(tmp_path: Path) -> None:
    env = {"DB_PASSWORD": "s3cret-value", "DATABASE_URL": "postgres://u:s3cret-value@h/db",
           "PLAIN": "visible"}
    plan = plan_of(tmp_path, process("db", tmp_path),
                   process("api", tmp_path, "db", env=env),
                   variables={"DB_PASSWORD": "s3cret-value"})
    async with scripted(tmp_path, plan) as s:
        await s.client.call(calls.start())
        await asyncio.sleep(3)
        details = await s.client.call(calls.unit("api"))
        text = str(encode(details))
        assert "s3cret-value" not in text
        assert details.spec["env"]["PLAIN"] == "visible"
        assert details.spec["env"]["DB_PASSWORD"] == "********"
        assert encode(details.depends_on) == [{"service": "db", "condition": "healthy",
                                               "met": True, "state": "running"}]
        steps = [t.what for t in details.timeline]
        assert steps[:5] == ["waiting for dependencies", "dependencies met", "starting",
                             "starting run 1", "running"]
        assert "ready" in steps
        assert details.status.name == "api" and details.restart == "on-failure"
        assert details.readiness is not None and details.readiness.kind == "tcp"


@virtual_time
async def test_logs_are_a_queryable_store_with_ids_paging_and_search(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path), process("api", tmp_path))
    async with scripted(tmp_path, plan) as s:
        append = s.env.logs.append
        for i in range(300):
            append("api", f"request {i} ok", "stdout", float(i))
            if i % 50 == 0:
                append("db", f"ERROR checkpoint {i} took long", "stderr", float(i))
        append("api", "token=hunter2 in a line", "stdout", 400.0)
        page = await s.client.call(calls.logs(["api"], limit=10))
        ids = [line.id for line in page.lines]
        assert ids == sorted(ids) and len(ids) == 10 and page.more
        older = await s.client.call(calls.logs(["api"], limit=10, before=ids[0]))
        assert [line.id for line in older.lines][-1] < ids[0]
        assert older.lines[-1].line == "request 290 ok"  # the page before 291-299
        # server-side search over every retained line, not only the last page
        found = await s.client.call(calls.logs(None, q="checkpoint 0 ", limit=100))
        assert [(f.unit, f.stream, f.level) for f in found.lines] == [
            ("db", "stderr", "error")]
        regex = await s.client.call(calls.logs(["api"], regex=r"request 1\d ok$", limit=100))
        assert len(regex.lines) == 10
        case = await s.client.call(calls.logs(None, q="error", case=True, limit=100))
        assert case.lines == ()
        errors = await s.client.call(calls.logs(None, levels=["error"], limit=100))
        assert {line.unit for line in errors.lines} == {"db"}
        with pytest.raises(RequestError) as bad:
            await s.client.call(calls.logs(None, regex="(unclosed"))
        assert bad.value.param == "regex"


@virtual_time
async def test_every_input_is_validated_into_a_4xx(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, process("db", tmp_path))
    async with scripted(tmp_path, plan) as s:
        http = s.client._http
        for timeout in (1e308, -1, "Infinity", "NaN", math.inf):
            body = f'{{"timeout": {timeout}}}' if not isinstance(timeout, str) \
                else f'{{"timeout": "{timeout}"}}'
            if timeout == math.inf:
                body = '{"timeout": Infinity}'
            answer = await http.post("/v1/wait", content=body,
                                     headers={"content-type": "application/json"})
            assert answer.status_code == 422, (timeout, answer.text)
            assert answer.json()["error"]["type"] == "RequestError"
        for path, params in (("/v1/logs", {"limit": -1}), ("/v1/logs", {"before": "x"}),
                             ("/v1/events", {"type": "bogus", "follow": False}),
                             ("/v1/events", {"unit": "nope", "follow": False}),
                             ("/v1/logs/follow", {"unit": "nope"})):
            answer = await http.get(path, params=params)
            assert 400 <= answer.status_code < 500, (path, params, answer.text)
            assert "error" in answer.json()
        answer = await http.post("/v1/jobs", json={"action": "explode"})
        assert answer.status_code == 422
        answer = await http.post("/v1/start", json={"units": ["db"], "extra": 1})
        assert answer.status_code == 422
        for body in ('{"units": [', "[]", "null", ""):  # malformed, not an object, none
            answer = await http.post("/v1/start", content=body,
                                     headers={"content-type": "application/json"})
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"]["type"] == "RequestError"
        assert s.runners["db"].starts == 0  # nothing ran for any of them


def _bounds(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """A value just outside each bound of a parameter's schema (through `anyOf`)."""
    outside = []
    for option in schema.get("anyOf", [schema]):
        if "minimum" in option:
            outside.append(("minimum", option["minimum"] - 1))
        if "maximum" in option:
            outside.append(("maximum", option["maximum"] + 1))
        if "maxLength" in option:
            outside.append(("maxLength", "x" * (option["maxLength"] + 1)))
    return outside


@virtual_time
async def test_the_openapi_document_is_what_the_app_serves_and_enforces(tmp_path: Path) -> None:
    """Generated from the route declarations: every route the app serves is documented, and
    a value just past any documented bound of a query parameter is refused naming it."""
    async with scripted(tmp_path, plan_of(tmp_path, process("db", tmp_path))) as s:
        http = s.client._http
        document = (await http.get("/openapi.json")).json()
        documented = {(path, method.upper()) for path, operations in document["paths"].items()
                      for method in operations}
        app = create_app(s.env, lambda: None)
        served = {(route.path, method) for route in app.routes for method in route.methods}
        assert documented == served - {("/openapi.json", "GET")}
        assert len(documented) == len(ENDPOINTS)
        tried = 0
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for parameter in operation["parameters"]:
                    if parameter["in"] != "query":
                        continue
                    for bound, value in _bounds(parameter["schema"]):
                        answer = await http.request(method, path,
                                                    params={parameter["name"]: value})
                        assert answer.status_code == 422, (path, parameter, bound, answer.text)
                        assert answer.json()["error"]["param"] == parameter["name"]
                        tried += 1
        # logs: before, after, limit (2), q, regex; logs/follow: after, n (2); events: since,
        # instance
        assert tried == 11


@virtual_time
async def test_ping_names_the_protocol_and_the_instance(tmp_path: Path) -> None:
    async with scripted(tmp_path, plan_of(tmp_path, process("db", tmp_path))) as s:
        ping = await s.client.call(calls.ping())
        assert ping.protocol == PROTOCOL_VERSION
        assert ping.instance == s.env.instance
        status = await s.client.call(calls.status())
        assert status.instance == ping.instance


def test_errors_keep_their_type_and_fields_across_the_wire() -> None:
    original = ConfigError("bad port", file="profiles/local.toml", line=12,
                           key="processes.api.port")
    again = error_from_dict(original.to_dict())
    assert isinstance(again, ConfigError)
    assert (again.file, again.line, again.key) == ("profiles/local.toml", 12,
                                                   "processes.api.port")
    assert again.message == original.message and again.exit_code == 2
    busy = error_from_dict(JobBusyError("j1", "busy").to_dict())
    assert isinstance(busy, JobBusyError) and busy.job == "j1"


class StandInCluster:
    """Stands in for `neodev.cluster` (kind cannot run here): scripted steps, a report."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    def up(self, plan: Any, paths: Any, progress: Any) -> ClusterReport:
        self.calls += 1
        progress(ProgressStep("render", "ok", 0.1))
        progress(ProgressStep("cluster-create", "ok", 2.0))
        return ClusterReport(profile="staging", cluster_name="neodev-staging",
                             context="kind-neodev-staging", exists=True)


@virtual_time
async def test_a_cluster_job_belongs_to_the_daemon_not_to_the_request(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "staging.toml").write_text(
        '[processes.x]\ncwd = "."\ncommand = "true"\n')
    stand_in = StandInCluster()
    async with scripted(tmp_path, plan_of(tmp_path, process("db", tmp_path))) as s:
        s.env.jobs._actions = {"up": stand_in.up, "status": stand_in.up, "down": stand_in.up}
        job = await s.client.call(calls.submit_job("up", "staging"))
        assert job.state == "running"
        again = await s.client.call(calls.submit_job("up", "staging"))
        assert again.id == job.id  # the same job, not a second run
        with pytest.raises(JobBusyError) as busy:
            await s.client.call(calls.submit_job("down", "staging"))
        assert busy.value.job == job.id
        # Nobody followed it so far; a client that comes later follows it to its end.
        records = [r async for r in s.client.stream(calls.follow_job(job.id))]
        record = records[-1]
        assert record.state == "succeeded", record
        assert [step.step for step in record.steps] == ["render", "cluster-create"]
        assert record.report is not None and record.report.ready is True
        assert encode(record)["report"]["ready"] is True
        status = await s.client.call(calls.status())
        assert status.clusters["staging"].cluster_name == "neodev-staging"
        unit_names = {u.name for u in status.units}
        assert unit_names == {"db"}  # progress is not a pseudo-unit
        with pytest.raises(Exception) as unknown:
            await s.client.call(calls.job("nope"))
        assert type(unknown.value).__name__ == "UnknownJobError"
