"""The plugin's service fixtures against real containers: what a user's suite gets.

The inner suites use the repository's own `local` profile and compose file, so these tests
prove the dev environment's settings (image, environment, command, healthcheck) reach the
test containers, with the test-only differences: random 127.0.0.1 ports, throwaway volumes,
a network and labels of the run's own, and nothing left afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest
import yaml

from tests.constants import PLUGIN_RUNS, REPO_ROOT
from tests.plugin.conftest import RECORD, leftovers, run_inner

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

SERVICES_SUITE = RECORD + '''
import docker
import httpx
import psycopg
import pytest

pytestmark = pytest.mark.neodev("postgres", "prometheus")


def describe(service, container_id):
    c = docker.from_env().containers.get(container_id)
    record("containers.jsonl", service=service, id=c.id, name=c.name,
           ports=c.attrs["NetworkSettings"]["Ports"], mounts=c.attrs["Mounts"],
           networks=list(c.attrs["NetworkSettings"]["Networks"]), labels=c.labels,
           healthcheck=c.attrs["Config"]["Healthcheck"], tmpfs=c.attrs["HostConfig"].get("Tmpfs"),
           restart=c.attrs["HostConfig"]["RestartPolicy"])


def test_postgres_connects_with_the_profile_credentials(neodev_postgres):
    assert neodev_postgres.host == "127.0.0.1"
    assert (neodev_postgres.user, neodev_postgres.dbname) == ("neotool", "neotool_dev")
    assert neodev_postgres.dsn.startswith("postgresql://neotool:")
    assert neodev_postgres.password not in repr(neodev_postgres)
    with psycopg.connect(neodev_postgres.dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "neotool", "neotool_dev")
    describe("postgres", neodev_postgres.container_id)


def test_prometheus_runs_the_compose_command(neodev_prometheus, neodev_service):
    assert neodev_prometheus.url == f"http://127.0.0.1:{neodev_prometheus.port}"
    with httpx.Client(base_url=neodev_prometheus.url, trust_env=False, timeout=10) as http:
        assert http.get("/-/ready").status_code == 200
        flags = http.get("/api/v1/status/flags").json()["data"]
    # --web.enable-lifecycle is only in the compose file's command, not in the image.
    assert flags["web.enable-lifecycle"] == "true"
    assert neodev_service("prometheus") == neodev_prometheus
    describe("prometheus", neodev_prometheus.container_id)


def test_services_fixture_lists_what_the_marker_names(neodev_services):
    assert sorted(neodev_services) == ["postgres", "prometheus"]
'''


def test_fixtures_start_the_profile_services_alone_and_leave_nothing(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch,
        engine: docker.DockerClient) -> None:
    started = time.monotonic()
    inner = run_inner(pytester, SERVICES_SUITE, "-v")
    elapsed = time.monotonic() - started
    inner.result.assert_outcomes(passed=3)
    containers = {r["service"]: r for r in inner.records("containers.jsonl")}
    assert sorted(containers) == ["postgres", "prometheus"]
    compose = yaml.safe_load((REPO_ROOT / "compose/docker-compose.local.yml").read_text())
    for service, c in containers.items():
        # Random host ports, published on the loopback only.
        for bindings in c["ports"].values():
            assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), c["ports"]
            assert all(b["HostPort"] not in ("5432", "9090") for b in bindings)
        # Throwaway volumes, never the dev named volumes: Postgres (root entrypoint) in
        # memory, Prometheus (runs as `nobody`) on an anonymous volume of the run.
        volumes = [m for m in c["mounts"] if m["Type"] == "volume"]
        assert not any(m["Name"].startswith("neotool_") for m in volumes)
        if service == "postgres":
            assert volumes == [] and c["tmpfs"] == {"/var/lib/postgresql": "rw"}
        else:
            assert [(len(m["Name"]), m["Destination"]) for m in volumes] == [(64, "/prometheus")]
        # A network of the run's own, the run's labels, Docker never restarts it.
        assert c["networks"] == [f"neotool-pytest-{inner.session}_default"]
        assert c["name"] == f"neotool-pytest-{inner.session}-{service}-1"
        assert c["labels"]["dev.neodev.pytest.session"] == inner.session
        assert c["labels"]["dev.neodev.pytest.owner-pid"] == str(inner.run["owner_pid"])
        assert c["labels"]["com.docker.compose.project"] != "neotool"
        assert c["restart"]["Name"] in ("no", "")
        # The compose healthcheck itself (polled faster, same unhealthy window).
        hc = compose["services"][service]["healthcheck"]
        assert c["healthcheck"]["Test"] == [part.replace("$$", "$") for part in hc["test"]]
        assert c["healthcheck"]["Interval"] == 500_000_000
    assert leftovers(engine, inner.session) == []
    assert not Path(inner.run["directory"]).exists()
    print(f"two services, three tests, cleanup: {elapsed:.1f} s")


FAILING_SUITE = RECORD + '''
import os

import psycopg
import pytest


def test_fails_after_the_server_logged_an_error(neodev_postgres):
    password = os.environ["POSTGRES_PASSWORD"]
    with psycopg.connect(neodev_postgres.dsn, autocommit=True) as conn:
        try:
            # The server logs the statement, password included, with the error.
            conn.execute("SELECT '" + password + "'::int")
        except psycopg.errors.InvalidTextRepresentation:
            pass
    pytest.fail("deliberately")


def test_passes(neodev_postgres):
    pass
'''


def test_a_failing_test_reports_the_service_log_with_secrets_masked(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch) -> None:
    password = "s3cret-plugin-pw-1234"
    plugin_env.setenv("POSTGRES_PASSWORD", password)
    inner = run_inner(pytester, FAILING_SUITE)
    inner.result.assert_outcomes(passed=1, failed=1)
    out = inner.result.stdout.str()
    section = out[out.index("neodev: last 50 log lines of service postgres"):]
    assert "invalid input syntax for type integer" in section
    assert "database system is ready to accept connections" in section
    assert "********" in section
    assert password not in out + inner.result.stderr.str()
    # Only the failing test carries the section.
    assert out.count("log lines of service postgres") == 1


UNREACHABLE_SUITE = '''
def test_one(neodev_postgres):
    pass


def test_two(neodev_db):
    pass


def test_three(neodev_prometheus):
    pass
'''


def test_an_unreachable_engine_fails_in_seconds_naming_it(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch) -> None:
    plugin_env.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    started = time.monotonic()
    inner = run_inner(pytester, UNREACHABLE_SUITE, timeout=60)
    elapsed = time.monotonic() - started
    inner.result.assert_outcomes(errors=3)
    out = inner.result.stdout.str()
    assert ("Docker engine unreachable: no Docker engine answers at unix:///nonexistent.sock "
            "(from DOCKER_HOST)") in out
    assert "unset DOCKER_HOST" in out  # the hint of neodev's one wording
    assert elapsed < 20, f"took {elapsed:.1f} s"


def test_a_missing_image_names_it_and_its_variable(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch,
        engine: docker.DockerClient) -> None:
    plugin_env.setenv("NEODEV_POSTGRES_IMAGE", "neodev-test/no-such-image:0")
    started = time.monotonic()
    inner = run_inner(pytester, UNREACHABLE_SUITE, "-k", "one or two", timeout=120)
    elapsed = time.monotonic() - started
    inner.result.assert_outcomes(errors=2, deselected=1)
    out = inner.result.stdout.str()
    assert "Image not available: Image 'neodev-test/no-such-image:0'" in out
    assert "Set NEODEV_POSTGRES_IMAGE to an image that exists locally" in out
    assert leftovers(engine, inner.session) == []
    assert elapsed < 60, f"took {elapsed:.1f} s"


SLOW_INIT_SUITE = '''
import psycopg


def test_ready_means_initialised(neodev_postgres):
    # The very first connection: the init script (3 s of sleep, then a table) has finished.
    with psycopg.connect(neodev_postgres.dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT note FROM seeded").fetchall() == [("init done",)]
'''


@pytest.mark.parametrize("healthcheck", ["compose", "socket-only"])
def test_postgres_readiness_waits_for_the_first_run_initialisation(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch, tmp_path: Path,
        healthcheck: str) -> None:
    # A workspace whose compose file is the repository's Postgres service verbatim, plus an
    # init script that keeps the socket-only init server busy for 3 s. "socket-only": a
    # healthcheck that forgot `-h` and passes during the init; the plugin must still wait.
    workspace = tmp_path / "ws"
    (workspace / "profiles").mkdir(parents=True)
    (workspace / "compose" / "initdb").mkdir(parents=True)
    (workspace / "compose" / "initdb" / "10-slow.sh").write_text(
        "sleep 3\npsql -v ON_ERROR_STOP=1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -c "
        "\"CREATE TABLE seeded (note text); INSERT INTO seeded VALUES ('init done')\"\n")
    compose = yaml.safe_load((REPO_ROOT / "compose/docker-compose.local.yml").read_text())
    postgres = compose["services"]["postgres"]
    postgres["volumes"].append("./initdb:/docker-entrypoint-initdb.d:ro")
    if healthcheck == "socket-only":
        postgres["healthcheck"]["test"] = ["CMD-SHELL", 'pg_isready -U "$${POSTGRES_USER}"']
    (workspace / "compose" / "stack.yml").write_text(yaml.safe_dump(
        {"name": "ndslowinit", "services": {"postgres": postgres},
         "volumes": {"postgres-data": None}}))
    (workspace / "profiles" / "slow.toml").write_text(
        '[project]\ncompose = ["../compose/stack.yml"]\nsecrets = ["POSTGRES_PASSWORD"]\n')
    plugin_env.setenv("NEODEV_WORKSPACE", str(workspace))
    inner = run_inner(pytester, SLOW_INIT_SUITE, "--neodev-profile", "slow")
    inner.result.assert_outcomes(passed=1)
