"""The labels that make neodev's Docker objects findable (and compose-compatible).

Compose's own labels let `docker compose -p <project> ps` list what neodev started; the
`dev.neodev.*` labels carry what only neodev needs (the config hash that decides adopt vs
recreate; the instance and the workspace that own a container, network or volume, so another
checkout never takes it over; for the pytest plugin, the test session and the process that
owns it, so a crashed run's leftovers are found by the next one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
NEODEV_INSTANCE = "dev.neodev.instance"
"""The instance (its name) a container, network or volume belongs to."""
NEODEV_WORKSPACE = "dev.neodev.workspace"
"""The real path of the workspace whose instance it is: what "ours" means."""
POSTGRES_CREDENTIALS = "dev.neodev.postgres-credentials"
"""On a Postgres data volume: a salted, slow hash of the user and password its server was
initialised with (never the password), so a start with other credentials is told why it
cannot log in before anything depends on it."""
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


@dataclass(frozen=True)
class Owner:
    """The instance a workspace runs, as its Docker objects carry it."""

    instance: str
    workspace: str
    """The workspace's real path."""
    legacy: bool = False
    """The workspace ran this project before objects carried a workspace label: unlabelled
    objects of the project are its own (docs/decisions/instances.md)."""

    @property
    def labels(self) -> dict[str, str]:
        return {NEODEV_INSTANCE: self.instance, NEODEV_WORKSPACE: self.workspace}


def refusal(kind: str, name: str, labels: Mapping[str, str], owner: Owner, project: str
            ) -> str | None:
    """Why an existing container, network or volume with one of the instance's names is not
    the instance's to adopt (a message naming whose it is and what to do), or None when it is.

    Args:
        kind: "container", "network" or "volume".
        name: Its name.
        labels: Its labels.
        owner: The instance that wants it.
        project: The instance's compose project.
    """
    workspace = labels.get(NEODEV_WORKSPACE)
    if workspace == owner.workspace:
        return None
    another = ("run this workspace as another instance (`neodev --instance NAME start`)")
    if workspace:
        instance = labels.get(NEODEV_INSTANCE, "?")
        return (f"{kind} {name} belongs to instance {instance!r} of the workspace {workspace}; "
                f"neodev does not take it over. Stop it there (`neodev down` in that "
                f"workspace; `neodev instances prune` if it was deleted), or {another}")
    made_by_neodev = labels.get(NEODEV_PROJECT) == project
    if owner.legacy and (made_by_neodev or kind == "volume"):
        return None  # this workspace's own, from before workspaces were labelled
    if kind == "volume":
        return (f"volume {name} exists without neodev's labels (made by plain `docker "
                "compose`, by an older neodev, or by a start that raced one of another "
                "checkout), so whose data it holds is unknown and neodev does not use it. If "
                f"it holds nothing you need: `docker volume rm {name}`; else {another}")
    origin = "an older neodev in another checkout" if made_by_neodev else "plain `docker compose`"
    remove = "docker rm -f" if kind == "container" else "docker network rm"
    return (f"{kind} {name} has no neodev workspace label (made by {origin}); neodev does not "
            f"take it over. Remove it if nothing needs it (`{remove} {name}`), or {another}")


FINGERPRINT_ITERATIONS = 100_000


def credentials_fingerprint(user: str, password: str, salt: str | None = None) -> str:
    """`pbkdf2-sha256:<salt>:<hash>` of a user and password: it tells whether a volume's
    server was initialised with the same credentials without revealing them (salted, slow)."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", f"{user}\0{password}".encode(), bytes.fromhex(salt),
                                 FINGERPRINT_ITERATIONS).hex()[:32]
    return f"pbkdf2-sha256:{salt}:{digest}"


def same_credentials(fingerprint: str, user: str, password: str) -> bool | None:
    """Whether `fingerprint` was made of these credentials; None when it cannot be read."""
    scheme, _, rest = fingerprint.partition(":")
    salt, _, _ = rest.partition(":")
    if scheme != "pbkdf2-sha256" or not salt:
        return None
    try:
        expected = credentials_fingerprint(user, password, salt)
    except ValueError:  # not hex
        return None
    return hmac.compare_digest(expected, fingerprint)
