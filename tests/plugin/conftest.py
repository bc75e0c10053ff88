"""Helpers of the plugin tests: small suites run by pytester against real containers.

Each inner suite runs in a subprocess (`runpytest_subprocess`), so the plugin loads the way a
user's suite loads it — through the `pytest11` entry point, with the environment the test set
— and nothing of it stays behind in this process. The local test images stand in for the
official ones (`NEODEV_*_IMAGE`); Grafana and Loki have none, so the suites name the services
they use with the `neodev` marker. Every inner run records its run identity in `run.json`
(written by the inner conftest), so the outer test can ask Docker what the run left behind.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from neodev.docker.labels import PYTEST_SESSION
from tests.constants import REPO_ROOT, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE
from tests.integration.docker_helpers import require_images
from tests.waiting import until

INNER_TIMEOUT = 240.0
"""Seconds an inner suite may take (a few containers at most): a hang fails, never blocks."""
INNER_ADDOPTS = "-p no:schemathesis -p no:hypothesispytest -p no:textual-snapshot -p no:syrupy"
"""Plugins of this repository's own suite that an inner suite has no use for: each costs
every inner pytest process (and each of its xdist workers) over a second of imports."""

INNER_CONFTEST = '''
import json

from neodev.testing.plugin import RUN


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the run's owner, not an xdist worker
        run = session.config.stash[RUN]
        (session.config.rootpath / "run.json").write_text(json.dumps(
            {"session": run.session, "owner_pid": run.owner_pid, "directory": run.directory}))
'''


@dataclass
class InnerRun:
    """What an inner suite did: pytester's result and the run it was."""

    result: pytest.RunResult
    run: dict[str, Any]
    path: Path

    @property
    def session(self) -> str:
        return str(self.run["session"])

    def records(self, name: str) -> list[dict[str, Any]]:
        """JSON lines an inner test appended to `name` (see `record` in the inner suites)."""
        file = self.path / name
        if not file.exists():
            return []
        return [json.loads(line) for line in file.read_text().splitlines() if line]


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> docker.DockerClient:
    """The suite's client (fails, never skips, without an engine), the test images present."""
    require_images(docker_client, TEST_POSTGRES_IMAGE, TEST_PROMETHEUS_IMAGE)
    return docker_client


@pytest.fixture
def plugin_env(monkeypatch: pytest.MonkeyPatch, engine: docker.DockerClient
               ) -> Iterator[pytest.MonkeyPatch]:
    """The environment of an inner suite: the repo's workspace, the local test images."""
    monkeypatch.setenv("NEODEV_WORKSPACE", str(REPO_ROOT))
    monkeypatch.setenv("NEODEV_POSTGRES_IMAGE", TEST_POSTGRES_IMAGE)
    monkeypatch.setenv("NEODEV_PROMETHEUS_IMAGE", TEST_PROMETHEUS_IMAGE)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    for name in ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "DOCKER_HOST",
                 "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS)
    yield monkeypatch


def run_inner(pytester: pytest.Pytester, suite: str, *args: str, conftest: str = "",
              timeout: float = INNER_TIMEOUT) -> InnerRun:
    """Write `suite` as test_inner.py (the recording conftest, plus `conftest`) and run it."""
    pytester.makeconftest(INNER_CONFTEST + textwrap.dedent(conftest))
    pytester.makepyfile(test_inner=textwrap.dedent(suite))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)
    run_file = pytester.path / "run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else {}
    return InnerRun(result, run, pytester.path)


def wait_healthy(container: docker.models.containers.Container, timeout: float = 60) -> None:
    """Until Docker says the container is healthy (a dev environment's Postgres, say)."""
    def health() -> str:
        container.reload()
        assert container.status in ("created", "running"), f"{container.name} {container.status}"
        return str(container.attrs["State"].get("Health", {}).get("Status"))

    try:
        until(health, f"{container.name} healthy", timeout, ok=lambda status: status == "healthy",
              interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{container.logs()[-2000:]!r}") from None


def leftovers(client: docker.DockerClient, session: str) -> list[str]:
    """Containers, volumes and networks Docker still has for a run."""
    label = f"{PYTEST_SESSION}={session}"
    return ([f"container {c.name}" for c in
             client.containers.list(all=True, filters={"label": label})]
            + [f"volume {v.name}" for v in client.volumes.list(filters={"label": label})]
            + [f"network {n.name}" for n in client.networks.list(filters={"label": label})])


RECORD = '''
import json
import os


def record(file_name, /, **data):
    """Append one JSON line to `file_name` in the suite's directory (read by the outer test)."""
    data.setdefault("worker", os.environ.get("PYTEST_XDIST_WORKER", "main"))
    with open(os.path.join(os.path.dirname(__file__), file_name), "a") as handle:
        handle.write(json.dumps(data) + "\\n")
'''
"""A helper the inner suites start with."""
