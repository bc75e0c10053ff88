"""The container driver against the real Docker engine, with the locally built test images.

Every test uses its own project name (`ndtest<uuid8>`), labels what it creates with
`dev.neodev.test=1`, and removes it with `DockerProject.down(remove_volumes=True)`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest
import requests
from docker.errors import NotFound

from neodev.config.model import HealthcheckSpec, PortMapping, Probe
from neodev.docker.client import ClientFactory
from neodev.docker.logs import split_timestamp
from neodev.docker.project import DockerProject
from neodev.docker.runner import ContainerRunner, healthcheck_argv
from neodev.docker.stats import stats_from_sample
from neodev.errors import DockerError
from neodev.ports import PortClaim, check_claims
from neodev.protocol import Health
from tests.integration.docker_helpers import (
    POSTGRES_IMAGE,
    PROMETHEUS_IMAGE,
    TEST_LABELS,
    Collector,
    EngineProxy,
    postgres_spec,
    project_containers,
    require_images,
    unique_project,
    wait_healthy,
)
from tests.waiting import until_async

pytestmark = pytest.mark.docker


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> docker.DockerClient:
    """The suite's SDK client (fails, never skips, without an engine), images present."""
    require_images(docker_client, POSTGRES_IMAGE, PROMETHEUS_IMAGE)
    return docker_client


@pytest.fixture
async def clients(engine: docker.DockerClient) -> AsyncIterator[ClientFactory]:
    factory = ClientFactory()
    yield factory
    factory.close()


@pytest.fixture
async def project(clients: ClientFactory, engine: docker.DockerClient
                  ) -> AsyncIterator[DockerProject]:
    proj = DockerProject(unique_project(), clients, extra_labels=TEST_LABELS)
    try:
        yield proj
    finally:
        await proj.down(remove_volumes=True, grace=2)


def _psql(engine: docker.DockerClient, container_id: str, sql: str) -> str:
    code, out = engine.containers.get(container_id).exec_run(
        ["psql", "-U", "postgres", "-d", "neotool_dev", "-tAc", sql])
    assert code == 0, out.decode()
    return out.decode().strip()


async def test_postgres_create_health_names_logs_stats_adopt_restart(
        project: DockerProject, clients: ClientFactory, engine: docker.DockerClient) -> None:
    spec = postgres_spec(project.project)
    await project.ensure_network()
    assert await project.ensure_network() == f"{project.project}_default"  # get, not create
    assert await project.ensure_volumes([f"{project.project}_pgdata"]) == [
        f"{project.project}_pgdata"]
    sink = Collector()
    runner = ContainerRunner(spec, project.project, project.network, sink, clients)
    try:
        result = await runner.start()
        assert not result.adopted
        await wait_healthy(runner)

        # compose-style name, labels, network alias, 127.0.0.1-only ports, no restart policy
        c = engine.containers.get(runner.container_id)
        assert c.name == f"{project.project}-postgres-1"
        labels = c.labels
        assert labels["com.docker.compose.project"] == project.project
        assert labels["com.docker.compose.service"] == "postgres"
        assert labels["com.docker.compose.container-number"] == "1"
        assert labels["com.docker.compose.oneoff"] == "False"
        assert labels["dev.neodev.project"] == project.project
        assert labels["dev.neodev.unit"] == "postgres"
        assert len(labels["dev.neodev.config-hash"]) == 64
        assert labels["dev.neodev.test"] == "1"
        endpoint = c.attrs["NetworkSettings"]["Networks"][project.network]
        assert "postgres" in endpoint["Aliases"]
        assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] in ("no", "")
        assert c.attrs["Config"]["Healthcheck"]["Interval"] == 500_000_000
        assert project_containers(engine, project.project) == [(c.name, "postgres", "running")]
        vol = engine.volumes.get(f"{project.project}_pgdata")
        assert vol.attrs["Labels"]["com.docker.compose.volume"] == "pgdata"

        # the actual host port, bound on 127.0.0.1 only
        port = await project.published_port("postgres", 5432)
        assert port is not None
        assert c.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostIp"] == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        assert await project.published_port("postgres", 9999) is None
        # a port held by the project's own container is not a conflict
        claim = PortClaim("postgres", "127.0.0.1", port, container_port=5432)
        [verdict] = check_claims([claim], await project.host_ports_in_use(), project.project)
        assert verdict.status == "ours" and c.name in (verdict.owner or "")

        # log lines reach the sink, on the event loop, with Docker's timestamps
        await until_async(lambda: bool(sink.matching("ready to accept connections")),
                          "postgres ready line", 10)
        line, stream, ts = sink.matching("ready to accept connections")[0]
        assert stream == "stdout"
        assert abs(ts - time.time()) < 120
        assert not re.match(r"\d{4}-\d\d-\d\dT", line)  # Docker's RFC3339 prefix is split off

        stats = await runner.stats()
        assert stats is not None and stats.memory_bytes > 0 and stats.cpu_percent >= 0

        _psql(engine, runner.container_id, "create table t (x int); insert into t values (42)")

        # a new runner with the same spec (a restarted daemon) adopts: same container,
        # not restarted
        started_at = c.attrs["State"]["StartedAt"]
        again = ContainerRunner(spec, project.project, project.network, Collector(), clients)
        result = await again.start()
        assert result.adopted
        assert again.container_id == runner.container_id
        c.reload()
        assert c.attrs["State"]["StartedAt"] == started_at
        await again.stop(0)  # only its log stream: stop on a stopped container is a no-op

        # stop, then start again: the same container is started, data still there
        await runner.stop(10)
        await runner.stop(10)  # idempotent
        assert await runner.stats() is None
        assert (await runner.health()).health == Health.UNHEALTHY
        result = await runner.start()
        assert not result.adopted and result.detail.startswith("started")
        assert runner.container_id == c.id
        await wait_healthy(runner)
        assert _psql(engine, runner.container_id, "select x from t") == "42"
    finally:
        await runner.stop(2)


async def test_changed_spec_recreates_and_keeps_volume_then_down(
        project: DockerProject, clients: ClientFactory, engine: docker.DockerClient) -> None:
    volume = f"{project.project}_pgdata"
    await project.ensure_network()
    await project.ensure_volumes([volume])
    runner = ContainerRunner(postgres_spec(project.project), project.project, project.network,
                             Collector(), clients)
    await runner.start()
    await wait_healthy(runner)
    first_id = runner.container_id
    _psql(engine, first_id, "create table t (x int); insert into t values (7)")

    changed = postgres_spec(project.project, environment={
        "POSTGRES_PASSWORD": "test-pw", "POSTGRES_DB": "neotool_dev", "EXTRA": "1"})
    recreated = ContainerRunner(changed, project.project, project.network, Collector(), clients)
    result = await recreated.start()
    assert not result.adopted and result.detail.startswith("created")
    assert recreated.container_id != first_id
    with pytest.raises(NotFound):
        engine.containers.get(first_id)
    await wait_healthy(recreated)
    assert _psql(engine, recreated.container_id, "select x from t") == "7"
    c = engine.containers.get(recreated.container_id)
    assert "EXTRA=1" in c.attrs["Config"]["Env"]

    # down keeps volumes unless asked, and says what it removed
    report = await project.down(remove_volumes=False, grace=5)
    assert report.containers == (f"{project.project}-postgres-1",)
    assert report.network == project.network
    assert report.volumes == () and report.problems == ()
    engine.volumes.get(volume)  # still there
    assert project_containers(engine, project.project) == []
    report = await project.down(remove_volumes=True)
    assert report.volumes == (volume,)
    assert report.containers == () and report.network is None
    with pytest.raises(NotFound):
        engine.volumes.get(volume)
    await recreated.stop(1)  # follower cleanup; the container is gone (NotFound is fine)


async def test_wait_exit_code_logs_and_no_healthcheck(
        project: DockerProject, clients: ClientFactory) -> None:
    await project.ensure_network()
    spec = postgres_spec(project.project, name="oneshot", service="oneshot",
                         entrypoint=("bash", "-c", "echo hello-from-oneshot; sleep 1; exit 3"),
                         ports=(), volumes=(), healthcheck=None)
    sink = Collector()
    runner = ContainerRunner(spec, project.project, project.network, sink, clients)
    await runner.start()
    assert await asyncio.wait_for(runner.wait_exit(), 30) == 3
    await until_async(lambda: bool(sink.matching("hello-from-oneshot")), "oneshot output", 10)
    assert sink.matching("hello-from-oneshot")[0][1] == "stdout"
    report = await runner.health()
    assert report.health == Health.UNHEALTHY and "exit code 3" in report.detail
    assert await runner.stats() is None
    await runner.stop(1)

    # prometheus has no healthcheck: health is NONE while it runs
    prom = postgres_spec(project.project, name="prometheus", service="prometheus",
                         image=PROMETHEUS_IMAGE, image_variable="NEODEV_PROMETHEUS_IMAGE",
                         environment={}, ports=(PortMapping(container_port=9090,
                                                            host_port=None),),
                         volumes=(), healthcheck=None)
    prom_sink = Collector()
    prom_runner = ContainerRunner(prom, project.project, project.network, prom_sink, clients)
    await prom_runner.start()
    try:
        # stopped before it is up, prometheus exits 2: wait until it serves
        await until_async(lambda: bool(prom_sink.matching("Server is ready")), "prometheus up", 20)
        assert (await prom_runner.health()).health == Health.NONE
        assert await project.published_port("prometheus", 9090) is not None
    finally:
        await prom_runner.stop(2)
    assert await asyncio.wait_for(prom_runner.wait_exit(), 10) == 0


async def test_a_readiness_override_replaces_docker_health_for_a_container(
        project: DockerProject, clients: ClientFactory, free_port: int) -> None:
    # Prometheus has no Docker healthcheck (Docker says nothing); the profile's overrides are
    # what count: a log line for readiness, a tcp check on the published host port, and a
    # liveness probe on a port nothing listens on.
    await project.ensure_network()
    published: dict[tuple[int, str], int] = {}
    prom = postgres_spec(project.project, name="prometheus", service="prometheus",
                         image=PROMETHEUS_IMAGE, image_variable="NEODEV_PROMETHEUS_IMAGE",
                         environment={}, ports=(PortMapping(container_port=9090,
                                                            host_port=None),),
                         volumes=(), healthcheck=None,
                         readiness=Probe(kind="log", pattern="Server is ready to receive"),
                         liveness=Probe(kind="tcp", port=free_port, retries=2, timeout=1,
                                        interval=0.05))
    runner = ContainerRunner(prom, project.project, project.network, Collector(), clients,
                             on_ports=published.update)
    await runner.start()
    try:
        assert list(published) == [(9090, "tcp")]  # told the host port Docker picked
        first = await runner.health()
        assert first.health in (Health.STARTING, Health.HEALTHY)  # never Docker's NONE
        await wait_healthy(runner, 30)
        assert "matched" in (await runner.health()).detail
        assert runner.health_poll == prom.readiness.interval
        live = [await runner.liveness()]
        await asyncio.sleep(0.06)  # failures count one per interval, as Docker checks
        live.append(await runner.liveness())
        assert live[0] is not None and live[0].health is Health.STARTING  # 1 of 2 failures
        assert live[1] is not None and live[1].health is Health.UNHEALTHY
        assert f"127.0.0.1:{free_port}" in live[1].detail

        tcp = prom.model_copy(update={"readiness": Probe(kind="tcp",
                                                         port=published[(9090, "tcp")])})
        via_port = ContainerRunner(tcp, project.project, project.network, Collector(), clients)
        await via_port.start()  # adopts the same container (engine-side fields differ only)
        await wait_healthy(via_port, 30)
        assert "connected" in (await via_port.health()).detail
    finally:
        await runner.stop(2)


async def test_missing_image_names_image_and_variable(
        project: DockerProject, clients: ClientFactory, engine: docker.DockerClient) -> None:
    await project.ensure_network()
    image = f"neodev-test/absent-{project.project}:1"
    sink = Collector()
    spec = postgres_spec(project.project, image=image, volumes=())
    runner = ContainerRunner(spec, project.project, project.network, sink, clients)
    with pytest.raises(DockerError) as err:
        await runner.start()
    assert image in err.value.message
    assert "NEODEV_POSTGRES_IMAGE" in err.value.message
    await asyncio.sleep(0)  # let the pull progress lines reach the sink
    assert any(stream == "neodev" and "pulling" in line for line, stream, _ in sink.lines)
    assert project_containers(engine, project.project) == []


async def test_host_port_conflict_names_the_owner(
        project: DockerProject, clients: ClientFactory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        claim = PortClaim("postgres", "127.0.0.1", port, container_port=5432)
        [verdict] = check_claims([claim], await project.host_ports_in_use(), project.project)
    assert verdict.status == "taken"
    assert verdict.owner is not None and str(os.getpid()) in verdict.owner
    assert f"127.0.0.1:{port}/tcp (postgres)" in verdict.message
    assert "compose file" in verdict.hint
    # the socket is closed now: no conflict any more
    [again] = check_claims([claim], await project.host_ports_in_use(), project.project)
    assert again.status == "free"


async def test_engine_going_away_mid_run_is_reported_and_reconnected(
        project: DockerProject, tmp_path: Path) -> None:
    """The real SDK against the real engine, through a proxy socket we can cut: calls fail with
    a DockerError (not requests' ConnectionError), the next call reconnects, and the log follow
    stream reports the loss and resumes where it stopped."""
    proxy = EngineProxy(str(tmp_path / "engine.sock"))
    proxy.start()
    connects: list[docker.DockerClient] = []

    def connect() -> docker.DockerClient:
        connects.append(docker.DockerClient(base_url=f"unix://{proxy.path}"))
        return connects[-1]

    factory = ClientFactory(connect=connect)
    await project.ensure_network()
    spec = postgres_spec(project.project, name="ticker", service="ticker", ports=(), volumes=(),
                         healthcheck=None, entrypoint=(
                             "bash", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); "
                             "sleep 0.1; done"))
    sink = Collector()
    runner = ContainerRunner(spec, project.project, project.network, sink, factory)
    try:
        await runner.start()
        await until_async(lambda: len(sink.matching("tick")) >= 3, "first ticks", 10)
        proxy.stop()  # dockerd "dies"
        with pytest.raises(DockerError) as err:
            await runner.health()
        assert "no Docker engine answers at" in err.value.message
        await until_async(lambda: bool(sink.matching("log stream lost")), "loss reported", 10)
        before = len(connects)
        proxy.start()  # ... and comes back: the next call reconnects
        assert (await runner.health()).health == Health.NONE
        assert len(connects) > before  # the broken shared client was replaced
        await until_async(lambda: bool(sink.matching("log stream resumed")), "resumed", 15)
        await asyncio.sleep(0.5)
        ticks = [int(line.split()[1]) for line, stream, _ in sink.lines
                 if stream == "stdout" and line.startswith("tick ")]
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # no gap, no duplicate
    finally:
        await runner.stop(1)
        factory.close()
        proxy.stop()


class _DeadEngineClient:
    """Stands in for a DockerClient whose engine died after the client was made.

    Killing the test machine's dockerd mid-test would break every other test running against
    it, so this reproduces what docker-py does then (reference §2): the call raises requests'
    ConnectionError, not a DockerException.
    """

    closed = False

    def ping(self) -> bool:
        raise requests.exceptions.ConnectionError(
            "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))")

    def close(self) -> None:
        self.closed = True


async def test_engine_gone_is_a_docker_error_and_reconnects() -> None:
    made: list[_DeadEngineClient] = []

    def connect() -> _DeadEngineClient:
        made.append(_DeadEngineClient())
        return made[-1]

    factory = ClientFactory(connect=connect)  # type: ignore[arg-type]
    try:
        with pytest.raises(DockerError) as err:
            await factory.call("ping the engine", lambda c: c.ping())
        assert "no Docker engine answers at" in err.value.message
        assert "ping the engine" in err.value.message
        assert made[0].closed  # the broken client was dropped...
        with pytest.raises(DockerError):
            await factory.call("ping the engine", lambda c: c.ping())
        assert len(made) == 2  # ...and the next call connected afresh
    finally:
        factory.close()


async def test_engine_unreachable_at_construction() -> None:
    def connect() -> docker.DockerClient:
        return docker.DockerClient(base_url="unix:///nonexistent/docker.sock")

    factory = ClientFactory(connect=connect)
    try:
        with pytest.raises(DockerError) as err:
            await factory.call("list containers", lambda c: c.containers.list())
        assert "Docker engine" in err.value.message
    finally:
        factory.close()


def test_cpu_and_memory_formulas_match_the_docker_cli() -> None:
    sample = {
        "cpu_stats": {"cpu_usage": {"total_usage": 1_200_000_000}, "online_cpus": 2,
                      "system_cpu_usage": 14_000_000_000},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000},
                         "system_cpu_usage": 10_000_000_000},
        "memory_stats": {"usage": 100_000_000, "stats": {"inactive_file": 20_000_000}},
    }
    stats = stats_from_sample(sample)
    assert stats is not None
    assert stats.cpu_percent == pytest.approx(0.2 / 4 * 2 * 100)  # 10 %
    assert stats.memory_bytes == 80_000_000
    v1 = {**sample, "memory_stats": {"usage": 100, "stats": {"total_inactive_file": 30}}}
    assert stats_from_sample(v1).memory_bytes == 70  # type: ignore[union-attr]
    assert stats_from_sample({"memory_stats": {}}) is None  # a stopped container


def test_docker_log_timestamps_are_parsed_to_the_nanosecond_prefix() -> None:
    ts, text = split_timestamp("2026-11-26T10:00:01.250000000Z hello world")
    assert text == "hello world"
    assert ts == pytest.approx(1795687201.25)
    ts, _ = split_timestamp("2026-11-26T11:00:01+01:00 x")
    assert ts == pytest.approx(1795687201.0)
    assert split_timestamp("no prefix") == (None, "no prefix")


async def test_recreate_carries_anonymous_volumes_over_and_down_volumes_removes_them(
        project: DockerProject, clients: ClientFactory, engine: docker.DockerClient) -> None:
    """The Prometheus image declares VOLUME /prometheus; this spec does not name a volume
    there, so Docker makes an anonymous one. A recreate must neither lose nor orphan it."""
    await project.ensure_network()
    spec = postgres_spec(project.project, name="metrics", service="metrics",
                         image=PROMETHEUS_IMAGE, image_variable="NEODEV_PROMETHEUS_IMAGE",
                         environment={"A": "1"}, ports=(), volumes=(), healthcheck=None)
    first = ContainerRunner(spec, project.project, project.network, Collector(), clients)
    await first.start()
    assert first.container_id is not None
    old = engine.containers.get(first.container_id)
    [volume] = [m["Name"] for m in old.attrs["Mounts"] if m["Destination"] == "/prometheus"]
    code, _ = old.exec_run(["sh", "-c", "echo kept > /prometheus/marker"])
    assert code == 0

    changed = spec.model_copy(update={"environment": {"A": "2"}})
    second = ContainerRunner(changed, project.project, project.network, Collector(), clients)
    await second.start()
    assert second.container_id != first.container_id
    new = engine.containers.get(second.container_id)
    assert [m["Name"] for m in new.attrs["Mounts"] if m["Destination"] == "/prometheus"] == \
        [volume]
    code, out = new.exec_run(["cat", "/prometheus/marker"])
    assert (code, out.decode().strip()) == (0, "kept")
    await second.stop(2)

    report = await project.down(remove_volumes=True, grace=2)
    assert f"{volume} (anonymous)" in report.volumes
    assert not engine.volumes.list(filters={"name": volume})


async def test_healthy_as_soon_as_the_healthcheck_passes_not_after_dockers_interval(
        project: DockerProject, clients: ClientFactory, engine: docker.DockerClient) -> None:
    # Docker runs a healthcheck first one interval after the start (here 300 s); neodev runs
    # the same test in the container meanwhile, so the unit is healthy when Postgres is.
    await project.ensure_network()
    await project.ensure_volumes([f"{project.project}_pgdata"])  # labelled: down removes it
    slow_check = HealthcheckSpec(
        test=("CMD-SHELL", "pg_isready -U postgres -d neotool_dev -h 127.0.0.1"),
        interval=300.0, timeout=3.0, retries=3)
    runner = ContainerRunner(postgres_spec(project.project, healthcheck=slow_check),
                             project.project, project.network, Collector(), clients)
    started = time.monotonic()
    await runner.start()
    try:
        await wait_healthy(runner, 60)
        assert time.monotonic() - started < 60
        report = await runner.health()
        assert report.health is Health.HEALTHY and "run by neodev" in report.detail
        assert runner.container_id is not None
        state = engine.containers.get(runner.container_id).attrs["State"]
        assert state["Health"]["Status"] == "starting"  # Docker has not checked yet
    finally:
        await runner.stop(2)


async def test_a_failing_healthcheck_keeps_the_unit_starting_with_its_output(
        project: DockerProject, clients: ClientFactory) -> None:
    await project.ensure_network()
    await project.ensure_volumes([f"{project.project}_pgdata"])  # labelled: down removes it
    never = HealthcheckSpec(test=("CMD-SHELL", "echo 'not yet ready'; exit 1"),
                            interval=300.0, timeout=3.0, retries=3)
    runner = ContainerRunner(postgres_spec(project.project, healthcheck=never),
                             project.project, project.network, Collector(), clients)
    await runner.start()
    try:
        seen = []
        for _ in range(6):  # bounded: 6 polls, EARLY_CHECK_INTERVAL apart
            seen.append(await runner.health())
            await asyncio.sleep(0.5)
        assert all(r.health is Health.STARTING for r in seen)
        assert any("not yet ready" in r.detail for r in seen)
    finally:
        await runner.stop(2)


def test_the_healthcheck_test_becomes_the_command_docker_runs() -> None:
    assert healthcheck_argv(["CMD", "pg_isready", "-q"]) == ["pg_isready", "-q"]
    assert healthcheck_argv(["CMD-SHELL", "curl -f x || exit 1"]) == [
        "/bin/sh", "-c", "curl -f x || exit 1"]
    assert healthcheck_argv(["NONE"]) is None
    assert healthcheck_argv([]) is None
