"""The adapter between neodev's create arguments and testcontainers' `DockerContainer`.

`neodev.docker.create_args` speaks docker-py's `containers.create(**kwargs)`. `DockerContainer`
passes unknown keyword arguments straight to that call, but a few names it sets itself
(`environment`, `ports`, `volumes`, `tmpfs`, `name`, `command`) and would pass twice, and its own
`with_bind_ports` cannot bind a host IP. So those few go where `DockerContainer` keeps them —
ports as docker-py bindings (`("127.0.0.1", None)`: a random host port on the loopback),
bind strings as volume mappings — and everything else goes through as kwargs. This module is
the one place that knows; its unit test pins the translation.

Readiness is the compose healthcheck, through testcontainers' `HealthcheckWaitStrategy`: for
Postgres it is `pg_isready -h 127.0.0.1`, over TCP, so the socket-only server of the first-run
initialisation cannot pass it. A service without a healthcheck is ready once it runs.
"""

from __future__ import annotations

import math
from typing import Any

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import (
    ContainerStatusWaitStrategy,
    HealthcheckWaitStrategy,
)
from testcontainers.core.waiting_utils import WaitStrategy

POLL_INTERVAL = 0.1
"""Seconds between readiness checks (testcontainers' default is a whole second)."""


def to_testcontainer(args: dict[str, Any], startup_timeout: float) -> DockerContainer:
    """A not yet started `DockerContainer` that `start()` creates with exactly `args`.

    Args:
        args: the result of `create_args` (plus `networking_config`, if any).
        startup_timeout: seconds the container may take to become healthy.

    Raises:
        ValueError: two binds share a source (testcontainers keys bind mounts by source).
    """
    kwargs = dict(args)
    image = kwargs.pop("image")
    command = kwargs.pop("command", None)
    ports = kwargs.pop("ports", {})
    binds = kwargs.pop("volumes", [])
    tmpfs = kwargs.pop("tmpfs", {})
    container = DockerContainer(image, env=dict(kwargs.pop("environment", {})),
                                name=kwargs.pop("name", None))
    # Through with_kwargs, not the constructor: its own `network` parameter wants a
    # testcontainers Network object, while create() takes the network's name.
    container.with_kwargs(**kwargs)
    if command is not None:
        container.with_command(command)
    # testcontainers types `ports` as {port: host port}; docker-py also takes (ip, port).
    container.ports.update(ports)
    container.tmpfs.update(tmpfs)  # {path: Docker tmpfs options}, passed to create() as is
    for bind in binds:
        source, target, mode = str(bind).rsplit(":", 2)
        if source in container.volumes:
            raise ValueError(f"{source} is mounted twice ({container.volumes[source]['bind']} "
                             f"and {target}); testcontainers keeps one mount per source")
        container.with_volume_mapping(source, target, mode)
    return container.waiting_for(readiness(args, startup_timeout))


def readiness(args: dict[str, Any], startup_timeout: float) -> WaitStrategy:
    """The wait strategy: the container's healthcheck when it has one, else running."""
    strategy: WaitStrategy = (HealthcheckWaitStrategy() if args.get("healthcheck")
                              else ContainerStatusWaitStrategy())
    return (strategy.with_startup_timeout(math.ceil(startup_timeout))
            .with_poll_interval(POLL_INTERVAL))

