"""Shared fixtures of the whole suite.

The testcontainers settings must be in the environment before testcontainers is imported
anywhere: the reaper image cannot be pulled here, and machines with /.dockerenv would otherwise
reach mapped ports through the bridge gateway (reference §1, §11).

Docker is never checked eagerly: unit tests run without an engine. Tests that need one take the
`docker_client` fixture, which fails (never skips) when no engine answers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
# The machine registry of instances (neodev.instances) of this run, for what module- and
# session-scoped fixtures start; each test gets one of its own (`_own_instance_registry`).
os.environ["NEODEV_STATE_HOME"] = tempfile.mkdtemp(prefix="neodev-test-state-")

# `from tests.constants import ...` must work under `.venv/bin/pytest` too, not only
# `python -m pytest` (which puts the working directory on sys.path).
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

# The imports below must follow the environment and sys.path set-up above.
import docker  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from docker.errors import DockerException, NotFound  # noqa: E402

from tests import ports  # noqa: E402
from tests.constants import TEST_LABEL, TEST_SESSION_ID, TEST_SESSION_LABEL  # noqa: E402

# tests/plugin/ runs small suites with pytester. pytest refuses `pytest_plugins` in a conftest
# below the top level (tests/plugin/conftest.py) once a whole-suite run collects it, so here.
pytest_plugins = ["pytester"]

ENGINE_HINT = (
    "The Docker tests need a running Docker engine and never skip. Run the suite with "
    "`bash tests/run.sh` (it installs and starts dockerd on Debian as root), or start Docker "
    "yourself (`setsid dockerd >/tmp/dockerd.log 2>&1 &` / Docker Desktop) and check that "
    "`docker info` answers."
)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A docker SDK client for the whole session; fails the test when no engine answers.

    At session end it removes what this session left behind (see `_remove_session_leftovers`).
    """
    try:
        client = docker.from_env()
        client.ping()
    except (DockerException, requests.exceptions.RequestException) as e:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        pytest.fail(f"No Docker engine answers at {where}: {e}\n{ENGINE_HINT}", pytrace=False)
    yield client
    try:
        _remove_session_leftovers(client)
    finally:
        client.close()


def _remove_session_leftovers(client: docker.DockerClient) -> None:
    """Remove containers, then volumes and networks, created by this pytest session.

    "This session" = carries `dev.neodev.test-session=<id>` (tests.constants.TEST_LABELS), or is
    a `dev.neodev.test=1` container started by this process's testcontainers session. Resources
    with only `dev.neodev.test=1` may belong to a concurrent run, so they are reported, not
    removed.
    """
    from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

    mine = f"{TEST_SESSION_LABEL}={TEST_SESSION_ID}"
    containers = {c.id: c for c in client.containers.list(all=True, filters={"label": mine})}
    for c in client.containers.list(
            all=True, filters={"label": [f"{TEST_LABEL}=1", f"{LABEL_SESSION_ID}={SESSION_ID}"]}):
        containers[c.id] = c
    removed: list[str] = []
    for c in containers.values():
        try:
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
        except NotFound:
            pass
    for v in client.volumes.list(filters={"label": mine}):
        try:
            v.remove(force=True)
            removed.append(f"volume {v.name}")
        except NotFound:
            pass
    for n in client.networks.list(filters={"label": mine}):
        try:
            n.remove()
            removed.append(f"network {n.name}")
        except NotFound:
            pass
    if removed:
        # Visible with -s / in the captured teardown output: a test did not clean up after itself.
        print(f"\n[conftest] removed leftovers of this session: {', '.join(removed)}")


@pytest.fixture(autouse=True)
def _own_instance_registry(tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has a machine registry of instances of its own (NEODEV_STATE_HOME, which
    every neodev it starts inherits): tests never see the developer's instances, nor each
    other's, so each scratch workspace is the first instance of its profile, as before
    instances existed."""
    monkeypatch.setenv("NEODEV_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    return ports.free_port()


@pytest.fixture
def unique_name() -> str:
    """A name no other test or run uses: `neodev-test-<12 hex>` (append suffixes as needed)."""
    return f"neodev-test-{uuid.uuid4().hex[:12]}"
