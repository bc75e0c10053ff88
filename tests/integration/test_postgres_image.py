"""The local test images honour the official images' interface (tests/images).

neodev-test/postgres:15 is started with testcontainers exactly as a test suite would start the
official image: POSTGRES_USER / PASSWORD / DB, a named volume at /var/lib/postgresql (the 18
layout), pg_isready for readiness. A real driver (psycopg 3) connects from the host; because the
host's connections arrive from the bridge gateway, they prove password authentication.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import httpx
import psycopg
import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import ExecWaitStrategy, HttpWaitStrategy

from tests.constants import TEST_LABELS, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE
from tests.waiting import until

pytestmark = pytest.mark.docker

USER = "neo"
PASSWORD = "s3cret-test-pw"
DB = "neotool_test"
INIT_SQL = b"CREATE TABLE seeded (note text); INSERT INTO seeded VALUES ('from initdb.d');\n"
READY_CMD = ["pg_isready", "-h", "127.0.0.1", "-U", USER, "-d", DB]


@pytest.fixture
def pg_volume(docker_client: docker.DockerClient, unique_name: str) -> Iterator[str]:
    """A labelled named volume, removed after the test."""
    volume = docker_client.volumes.create(f"{unique_name}-pgdata", labels=TEST_LABELS)
    yield volume.name
    volume.remove(force=True)


def postgres(volume: str, password: str = PASSWORD) -> DockerContainer:
    return (DockerContainer(TEST_POSTGRES_IMAGE, labels=TEST_LABELS)
            .with_env("POSTGRES_USER", USER)
            .with_env("POSTGRES_PASSWORD", password)
            .with_env("POSTGRES_DB", DB)
            .with_exposed_ports(5432)
            .with_volume_mapping(volume, "/var/lib/postgresql", mode="rw")
            .with_copy_into_container(INIT_SQL, "/docker-entrypoint-initdb.d/10-seed.sql")
            .waiting_for(ExecWaitStrategy(READY_CMD).with_startup_timeout(60)))


def connect(container: DockerContainer, password: str = PASSWORD) -> psycopg.Connection:
    return psycopg.connect(host=container.get_container_host_ip(),
                           port=container.get_exposed_port(5432), user=USER, password=password,
                           dbname=DB, connect_timeout=10, autocommit=True)


def wait_ready(container: DockerContainer, timeout: float = 60.0) -> None:
    """pg_isready over TCP inside the container, bounded (after a restart)."""
    try:
        until(lambda: container.exec(READY_CMD)[0], "pg_isready", timeout,
              ok=lambda code: code == 0, interval=0.25)
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{logs(container)[-2000:]}")


def logs(container: DockerContainer) -> str:
    out, err = container.get_logs()
    return (out + err).decode(errors="replace")


def test_postgres_image_keeps_data_and_requires_the_password(pg_volume: str) -> None:
    first = postgres(pg_volume).start()
    try:
        with connect(first) as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (USER, DB)
            # The init script ran once, on the fresh data directory.
            assert conn.execute("SELECT note FROM seeded").fetchall() == [("from initdb.d",)]
            conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
            conn.execute("INSERT INTO kept VALUES (1, 'survives restarts')")
            # The client really is a remote host (the bridge gateway), not 127.0.0.1 inside.
            client_addr = conn.execute("SELECT inet_client_addr()").fetchone()[0]
            assert client_addr is not None and str(client_addr) != "127.0.0.1"

        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(first, password="wrong-password").close()

        # Same container, stopped and started again.
        wrapped = first.get_wrapped_container()
        wrapped.stop(timeout=30)
        wrapped.reload()
        assert wrapped.status == "exited"
        wrapped.start()
        wait_ready(first)
        with connect(first) as conn:
            assert conn.execute("SELECT note FROM kept WHERE id = 1").fetchone() == (
                "survives restarts",)
    finally:
        first.stop()

    # A new container on the same volume: initialisation is skipped, so a different
    # POSTGRES_PASSWORD is ignored and the old one still works, as with the official image.
    second = postgres(pg_volume, password="ignored-on-existing-data").start()
    try:
        assert "Skipping initialization" in logs(second)
        with connect(second) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("survives restarts",)]
            assert conn.execute("SELECT count(*) FROM seeded").fetchone() == (1,)
    finally:
        second.stop()


def test_postgres_image_refuses_to_init_without_a_password(
        docker_client: docker.DockerClient) -> None:
    container = docker_client.containers.run(TEST_POSTGRES_IMAGE, detach=True, labels=TEST_LABELS)
    try:
        result = container.wait(timeout=60)
        output = container.logs().decode(errors="replace")
        assert result["StatusCode"] != 0, output
        assert "superuser password is not specified" in output
    finally:
        container.remove(force=True, v=True)


def test_postgres_image_runs_the_server_as_pid_1_user_postgres(pg_volume: str) -> None:
    container = postgres(pg_volume).start()
    try:
        code, out = container.exec(["sh", "-c", "cat /proc/1/comm; stat -c %U /proc/1"])
        assert code == 0
        assert out.decode().split() == ["postgres", "postgres"]
    finally:
        container.stop()


def test_prometheus_image_answers_ready() -> None:
    container = (DockerContainer(TEST_PROMETHEUS_IMAGE, labels=TEST_LABELS)
                 .with_exposed_ports(9090)
                 .waiting_for(HttpWaitStrategy(9090, "/-/ready").for_status_code(200)
                              .with_startup_timeout(60)))
    with container:
        base = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(9090)}"
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as http:
            assert http.get("/-/ready").status_code == 200
            config = http.get("/api/v1/status/config").json()["data"]["yaml"]
            assert "job_name: prometheus" in config  # the shipped default configuration
            flags = http.get("/api/v1/status/flags").json()["data"]
            assert flags["config.file"] == "/etc/prometheus/prometheus.yml"
            assert flags["storage.tsdb.path"] == "/prometheus"
