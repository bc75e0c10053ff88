"""testcontainers' reaper (Ryuk) whose image cannot be had does not fail a user's suite.

Without `TESTCONTAINERS_RYUK_DISABLED`, testcontainers starts its reaper before the first
container; here its image cannot be pulled (a registry on a closed port, as when no registry
is reachable). The plugin turns the reaper off for the run, says so and why it is safe (its
own clean-up removes the run's containers at the end, its janitor what a killed run left), and
the service starts; nothing of the run is left afterwards.
"""

from __future__ import annotations

import docker
import pytest

from tests.constants import PLUGIN_RUNS
from tests.plugin.conftest import leftovers, run_inner

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group(PLUGIN_RUNS)]

NO_REAPER = "127.0.0.1:9/neodev-test/no-such-ryuk:1"

SUITE = '''
import psycopg
import pytest

pytestmark = pytest.mark.neodev("postgres")


def test_postgres_answers(neodev_postgres):
    with psycopg.connect(neodev_postgres.dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
'''


def test_a_reaper_that_cannot_be_pulled_is_turned_off_and_said(
        pytester: pytest.Pytester, plugin_env: pytest.MonkeyPatch,
        engine: docker.DockerClient) -> None:
    plugin_env.delenv("TESTCONTAINERS_RYUK_DISABLED")
    plugin_env.setenv("RYUK_CONTAINER_IMAGE", NO_REAPER)
    inner = run_inner(pytester, SUITE)
    output = inner.result.stdout.str()
    inner.result.assert_outcomes(passed=1)
    assert "Docker refused to start container" not in output
    said = " ".join(line.strip() for line in output.splitlines())
    assert f"neodev: testcontainers' reaper (Ryuk) is off for this run: Image {NO_REAPER!r} " \
           "is not available locally and pulling it failed" in said
    assert "TESTCONTAINERS_RYUK_DISABLED=true is safe" in said
    assert leftovers(engine, inner.session) == []
