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
initialisation cannot pass it. Postgres must then also answer on its published port from the
host (`PostgresAnswersOnHost`), so even a healthcheck that forgot `-h` cannot let a test in
early. A service without a healthcheck is ready once it runs.
"""

from __future__ import annotations

import math
import socket
import time

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import (
    CompositeWaitStrategy,
    ContainerStatusWaitStrategy,
    HealthcheckWaitStrategy,
)
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

from neodev.docker.create_args import CreateKwargs
from neodev.docker.project import container_published_port
from neodev.timing import Deadline

POLL_INTERVAL = 0.1
"""Seconds between readiness checks (testcontainers' default is a whole second)."""


SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
"""The first message of the Postgres protocol a server answers before any authentication."""


def to_testcontainer(args: CreateKwargs, startup_timeout: float,
                     postgres_port: int | None = None) -> DockerContainer:
    """A not yet started `DockerContainer` that `start()` creates with exactly `args`.

    Args:
        args: the result of `create_args` (plus `networking_config`, if any).
        startup_timeout: seconds the container may take to become healthy.
        postgres_port: for a Postgres service, its container port: readiness then also
            needs the server to answer on the published port.

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
    return container.waiting_for(readiness(args, startup_timeout, postgres_port))


def readiness(args: CreateKwargs, startup_timeout: float,
              postgres_port: int | None = None) -> WaitStrategy:
    """The wait strategy: the container's healthcheck when it has one, else running; for
    Postgres, then its answer on the published port."""
    strategy: WaitStrategy = (HealthcheckWaitStrategy() if args.get("healthcheck")
                              else ContainerStatusWaitStrategy())
    if postgres_port is not None:
        strategy = CompositeWaitStrategy(strategy, PostgresAnswersOnHost(postgres_port))
    return (strategy.with_startup_timeout(math.ceil(startup_timeout))
            .with_poll_interval(POLL_INTERVAL))


class PostgresAnswersOnHost(WaitStrategy):
    """Ready once the Postgres server itself answers an SSLRequest on the published port.

    A TCP connect alone proves nothing: Docker's port proxy accepts connections before
    anything listens in the container (and while the first-run init server listens on its
    Unix socket only), then closes them. The server's one-byte answer (`S` or `N`) cannot be
    faked that way, and needs no driver and no password.
    """

    def __init__(self, container_port: int, host: str = "127.0.0.1") -> None:
        super().__init__()
        self._port = container_port
        self._host = host

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        wrapped = container.get_wrapped_container()
        deadline = Deadline(self._startup_timeout)
        while True:
            wrapped.reload()
            host_port = container_published_port(wrapped, self._port)
            if host_port is not None and answers_ssl_request(self._host, host_port):
                return
            if wrapped.status not in ("created", "running"):
                raise RuntimeError(f"the container is {wrapped.status} (Postgres never "
                                   f"answered on port {self._port})")
            if deadline.passed:
                raise TimeoutError(f"Postgres did not answer on {self._host}:{host_port} "
                                   f"within {self._startup_timeout:g} s")
            time.sleep(self._poll_interval)


def answers_ssl_request(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Postgres server answers the SSLRequest on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(SSL_REQUEST)
            return conn.recv(1) in (b"S", b"N")
    except OSError:
        return False

