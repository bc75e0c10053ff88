"""What a test gets from a service fixture: where the service listens, and how to log in.

Small frozen dataclasses built by pure functions from the spec and the host ports Docker
bound, so a test never has to know how the service was started (own container, a container
another xdist worker started, or the developer's running Postgres in attach mode). Passwords
stay out of `repr`, so a failing assertion that prints an endpoint does not print a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from neodev.config.model import ContainerSpec
from neodev.config.postgres import POSTGRES_PORT, libpq_dsn, postgres_credentials

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServiceEndpoint:
    """A started service, reachable from the test process."""

    name: str
    """The compose service / unit name."""
    host: str
    """Where to connect: always 127.0.0.1 (ports are published on the loopback only)."""
    ports: Mapping[int, int]
    """Container port -> host port, for every port the service publishes."""
    port: int | None
    """The host port of the service's first published port (None when it publishes none)."""
    url: str | None
    """`http://host:port` of the first published port (for Postgres: the DSN without the
    password)."""
    container_id: str
    """The Docker container behind the service."""

    def host_port(self, container_port: int) -> int:
        """The host port a container port is published on.

        Raises:
            KeyError: the service does not publish that port (the message lists those it does).
        """
        try:
            return self.ports[container_port]
        except KeyError:
            raise KeyError(f"service {self.name!r} does not publish container port "
                           f"{container_port} (it publishes: "
                           f"{', '.join(map(str, self.ports)) or 'none'})") from None


@dataclass(frozen=True)
class PostgresService(ServiceEndpoint):
    """A Postgres server and one database on it, with the profile's credentials."""

    user: str
    dbname: str
    password: str = field(repr=False)

    @property
    def dsn(self) -> str:
        """libpq connection URI: `postgresql://user:password@127.0.0.1:port/db`."""
        return libpq_dsn(self.host, self._port, self.user, self.password, self.dbname)

    def with_database(self, dbname: str) -> PostgresService:
        """The same server and credentials, another database."""
        return replace(self, dbname=dbname,
                       url=libpq_dsn(self.host, self._port, self.user, None, dbname))

    @property
    def _port(self) -> int:
        return self.host_port(POSTGRES_PORT)


def service_endpoint(spec: ContainerSpec, ports: Mapping[int, int], container_id: str,
                     host: str = LOOPBACK) -> ServiceEndpoint:
    """The endpoint of a started container: the spec's published ports in spec order."""
    ordered = {p.container_port: ports[p.container_port] for p in spec.ports
               if p.container_port in ports}
    ordered.update({c: h for c, h in ports.items() if c not in ordered})
    first = next(iter(ordered.values()), None)
    return ServiceEndpoint(name=spec.name, host=host, ports=ordered, port=first,
                           url=f"http://{host}:{first}" if first is not None else None,
                           container_id=container_id)


def postgres_endpoint(spec: ContainerSpec, ports: Mapping[int, int], container_id: str,
                      dbname: str | None = None, host: str = LOOPBACK) -> PostgresService:
    """The Postgres endpoint of a started container, on the profile's database by default.

    Raises:
        KeyError: the container does not publish 5432.
    """
    base = service_endpoint(spec, ports, container_id, host)
    user, password, profile_db = postgres_credentials(spec)
    db = dbname or profile_db
    port = base.host_port(POSTGRES_PORT)
    return PostgresService(name=base.name, host=host, ports=base.ports, port=port,
                           url=libpq_dsn(host, port, user, None, db),
                           container_id=container_id, user=user, dbname=db, password=password)
