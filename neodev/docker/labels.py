"""The labels that make neodev's Docker objects findable (and compose-compatible).

Compose's own labels let `docker compose -p <project> ps` list what neodev started; the
`dev.neodev.*` labels carry what only neodev needs (the config hash that decides adopt vs
recreate).
"""

from __future__ import annotations

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
COMPOSE_NETWORK = "com.docker.compose.network"
COMPOSE_VOLUME = "com.docker.compose.volume"
NEODEV_PROJECT = "dev.neodev.project"
NEODEV_UNIT = "dev.neodev.unit"
CONFIG_HASH = "dev.neodev.config-hash"


def container_name(project: str, service: str) -> str:
    """`<project>-<service>-1`, as compose v2 names a service's first container."""
    return f"{project}-{service}-1"


def container_labels(project: str, service: str, unit: str, config_hash: str) -> dict[str, str]:
    """The labels neodev puts on every container it creates."""
    return {
        COMPOSE_PROJECT: project,
        COMPOSE_SERVICE: service,
        COMPOSE_NUMBER: "1",
        COMPOSE_ONEOFF: "False",
        NEODEV_PROJECT: project,
        NEODEV_UNIT: unit,
        CONFIG_HASH: config_hash,
    }
