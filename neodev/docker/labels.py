"""The labels that make neodev's Docker objects findable (and compose-compatible).

Compose's own labels let `docker compose -p <project> ps` list what neodev started; the
`dev.neodev.*` labels carry what only neodev needs (the config hash that decides adopt vs
recreate; for the pytest plugin, the test session and the process that owns it, so a crashed
run's leftovers are found by the next one).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from neodev import __version__

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
COMPOSE_NETWORK = "com.docker.compose.network"
COMPOSE_VOLUME = "com.docker.compose.volume"
COMPOSE_CONFIG_HASH = "com.docker.compose.config-hash"
"""Compose v2 lists (`ps`), follows (`logs`), stops and removes (`down`) only the containers
that carry a config hash; neodev puts its own there (compose's `up` would recreate them)."""
COMPOSE_VERSION = "com.docker.compose.version"
COMPOSE_WORKING_DIR = "com.docker.compose.project.working_dir"
COMPOSE_CONFIG_FILES = "com.docker.compose.project.config_files"
COMPOSE_DEPENDS_ON = "com.docker.compose.depends_on"
"""`service:condition:restart`, comma-separated, as compose writes it."""
NEODEV_PROJECT = "dev.neodev.project"
NEODEV_UNIT = "dev.neodev.unit"
CONFIG_HASH = "dev.neodev.config-hash"
PYTEST = "dev.neodev.pytest"
"""`1` on every container, volume and network the pytest plugin creates."""
PYTEST_SESSION = "dev.neodev.pytest.session"
"""The test run (one id shared by all pytest-xdist workers of the run)."""
PYTEST_OWNER_PID = "dev.neodev.pytest.owner-pid"
PYTEST_OWNER_STARTED = "dev.neodev.pytest.owner-started"
PYTEST_OWNER_HOST = "dev.neodev.pytest.owner-host"
"""pid, psutil create time and host name of the pytest process that owns the run: while that
process lives the resources are in use, once it is gone they are leftovers. Only the owner's
own host can tell (an engine may be shared by several machines)."""


def container_name(project: str, service: str) -> str:
    """`<project>-<service>-1`, as compose v2 names a service's first container."""
    return f"{project}-{service}-1"


COMPOSE_CONDITIONS = {"started": "service_started", "healthy": "service_healthy",
                      "completed_successfully": "service_completed_successfully"}


def container_labels(project: str, service: str, unit: str, config_hash: str, *,
                     compose_file: str | None = None,
                     depends_on: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """The labels neodev puts on every container it creates: compose's (so `docker compose
    -p <project> ps/logs/stop/down` act on it) and neodev's own.

    Args:
        project: The compose project.
        service: The compose service.
        unit: The neodev unit name.
        config_hash: What the container is made from (neodev's hash).
        compose_file: The compose file defining the service (its directory is the project's
            working directory, as compose records it).
        depends_on: (service, neodev condition) pairs.
    """
    labels = {
        COMPOSE_PROJECT: project,
        COMPOSE_SERVICE: service,
        COMPOSE_NUMBER: "1",
        COMPOSE_ONEOFF: "False",
        COMPOSE_CONFIG_HASH: config_hash,
        COMPOSE_VERSION: f"neodev-{__version__}",
        COMPOSE_DEPENDS_ON: ",".join(f"{name}:{COMPOSE_CONDITIONS.get(cond, cond)}:false"
                                     for name, cond in depends_on),
        NEODEV_PROJECT: project,
        NEODEV_UNIT: unit,
        CONFIG_HASH: config_hash,
    }
    if compose_file:
        labels[COMPOSE_CONFIG_FILES] = compose_file
        labels[COMPOSE_WORKING_DIR] = str(PurePath(compose_file).parent)
    return labels


def pytest_labels(session: str, owner_pid: int, owner_started: float,
                  owner_host: str) -> dict[str, str]:
    """The labels the pytest plugin puts on everything it creates."""
    return {PYTEST: "1", PYTEST_SESSION: session, PYTEST_OWNER_PID: str(owner_pid),
            PYTEST_OWNER_STARTED: repr(owner_started), PYTEST_OWNER_HOST: owner_host}
