"""One compose project on the Docker engine: its network, volumes, containers and host ports.

Everything is found by label (`com.docker.compose.project=<project>`), never by guessing names,
so containers created by `docker compose -p <project>` and by neodev are the same thing.
`down` keeps volumes unless asked, and reports by name what it removed.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Iterable, Mapping

from docker import DockerClient
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from neodev.config.model import network_name
from neodev.docker.client import ClientFactory, stop_timeout, translate
from neodev.docker.labels import (
    COMPOSE_NETWORK,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    COMPOSE_VOLUME,
    NEODEV_PROJECT,
)
from neodev.errors import DockerError
from neodev.protocol.documents import DownReport

ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")




class DockerProject:
    """Network, volumes, containers and host ports of one compose project.

    Args:
        project: compose project name.
        client_factory: shared `ClientFactory` (a new one when omitted).
        extra_labels: labels added to the network and volumes this object creates (tests
            mark theirs with `dev.neodev.test=1`).
    """

    def __init__(self, project: str, client_factory: ClientFactory | None = None,
                 extra_labels: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.network = network_name(project)
        self._clients = client_factory or ClientFactory()
        self._extra_labels = dict(extra_labels or {})

    def _labels(self, **more: str) -> dict[str, str]:
        return {**self._extra_labels, COMPOSE_PROJECT: self.project,
                NEODEV_PROJECT: self.project, **more}

    async def ensure_network(self) -> str:
        """Get or create the project network `<project>_default`; return its name."""

        def run(client: DockerClient) -> str:
            # names= may match substrings (reference §2): compare exactly.
            found = [n for n in client.networks.list(names=[self.network])
                     if n.name == self.network]
            if not found:
                client.networks.create(self.network, driver="bridge",
                                       labels=self._labels(**{COMPOSE_NETWORK: "default"}))
            return self.network

        return await self._clients.call(f"create network {self.network}", run)

    async def ensure_volumes(self, names: Iterable[str]) -> list[str]:
        """Create the named volumes that do not exist yet (full, project-prefixed names).

        Returns:
            The names of the volumes created by this call.
        """
        wanted = list(names)

        def run(client: DockerClient) -> list[str]:
            created = []
            for name in wanted:
                try:
                    client.volumes.get(name)
                except NotFound:
                    short = name.removeprefix(f"{self.project}_")
                    client.volumes.create(name, driver="local",
                                          labels=self._labels(**{COMPOSE_VOLUME: short}))
                    created.append(name)
            return created

        return await self._clients.call(f"create volumes {', '.join(wanted)}", run)

    def _containers_sync(self, client: DockerClient) -> list[Container]:
        found: list[Container] = client.containers.list(
            all=True, filters={"label": [f"{COMPOSE_PROJECT}={self.project}"]})
        return found

    async def down(self, remove_volumes: bool = False, grace: float = 10.0) -> DownReport:
        """Stop and remove the project's containers and network; volumes only when asked.

        Args:
            remove_volumes: also delete the project's volumes (by label) and list them.
            grace: seconds each container gets to stop before it is killed.

        Returns:
            A DownReport naming what was removed and what could not be.
        """
        containers = await self._clients.call(f"list containers of project {self.project}",
                                              self._containers_sync)

        def remove(c: Container, _client: DockerClient) -> str | None:
            try:
                c.stop(timeout=stop_timeout(grace))
                # Anonymous volumes (an image's VOLUME no named volume covers) are removed
                # below, by name, only with remove_volumes (as `docker compose down -v`).
                c.remove(v=False)
            except NotFound:
                return None  # already gone: nothing to report
            return str(c.name)

        removed: list[str] = []
        problems: list[str] = []
        results = await asyncio.gather(
            *(self._clients.call(f"remove container {c.name}", functools.partial(remove, c))
              for c in containers), return_exceptions=True)
        for result in results:
            if isinstance(result, DockerError):
                problems.append(result.message)
            elif isinstance(result, BaseException):
                raise result
            elif result:
                removed.append(result)

        network = await self._clients.call(f"remove network {self.network}",
                                           lambda cl: self._remove_network(cl, problems))
        volumes: list[str] = []
        if remove_volumes:
            anonymous = sorted({name for c in containers for name in _anonymous_volumes(c)})
            volumes += await self._clients.call(
                "remove anonymous volumes",
                lambda cl: self._remove_anonymous(cl, anonymous, problems))
            volumes += await self._clients.call(f"remove volumes of project {self.project}",
                                                lambda cl: self._remove_volumes(cl, problems))
        return DownReport(tuple(sorted(removed)), network, tuple(volumes), tuple(problems))

    def _remove_network(self, client: DockerClient, problems: list[str]) -> str | None:
        for net in client.networks.list(names=[self.network]):
            if net.name != self.network:
                continue
            try:
                net.remove()
            except NotFound:
                return None
            except APIError as e:  # e.g. a foreign container still attached
                problems.append(translate(e, f"remove network {self.network}").message)
                return None
            return self.network
        return None

    def _remove_anonymous(self, client: DockerClient, names: list[str],
                          problems: list[str]) -> list[str]:
        """Remove the anonymous volumes the project's containers used. `remove(v=True)` does
        not cover them once a recreate mounted them again by name."""
        deleted = []
        for name in names:
            try:
                client.volumes.get(name).remove()
            except NotFound:
                continue  # already gone
            except APIError as e:  # still used by a container outside the project
                problems.append(translate(e, f"remove volume {name}").message)
                continue
            deleted.append(f"{name} (anonymous)")
        return deleted

    def _remove_volumes(self, client: DockerClient, problems: list[str]) -> list[str]:
        deleted = []
        for vol in client.volumes.list(filters={"label": f"{COMPOSE_PROJECT}={self.project}"}):
            try:
                vol.remove()
            except NotFound:
                continue
            except APIError as e:  # in use by a container outside the project
                problems.append(translate(e, f"remove volume {vol.name}").message)
                continue
            deleted.append(vol.name)
        return sorted(deleted)

    async def published_port(self, service: str, container_port: int,
                             protocol: str = "tcp") -> int | None:
        """The host port Docker actually bound for a service's container port.

        Returns:
            The port, or None when the container is not running or does not publish it.
        """

        def run(client: DockerClient) -> int | None:
            return service_published_port(client, self.project, service, container_port,
                                          protocol)

        return await self._clients.call(f"inspect ports of {service}", run)

    async def host_ports_in_use(self) -> dict[tuple[int, str], tuple[str, str]]:
        """(host port, protocol) -> (container name, compose project) of every running
        container on the engine (any project): what `neodev.ports` needs to name a holder."""

        def run(client: DockerClient) -> dict[tuple[int, str], tuple[str, str]]:
            # any project's container may be removed between Docker's list and inspect
            return published_host_ports(client.containers.list(ignore_removed=True))

        return await self._clients.call("list published ports", run)


def running_service_containers(client: DockerClient, project: str, service: str
                               ) -> list[Container]:
    """The running containers of a compose service, found by the compose labels (so one
    started by `docker compose` counts as well). Blocking: run it on a thread from async code.
    """
    return list(client.containers.list(filters={"label": [
        f"{COMPOSE_PROJECT}={project}", f"{COMPOSE_SERVICE}={service}"]}))


def container_published_port(container: Container, container_port: int,
                             protocol: str = "tcp") -> int | None:
    """The host port a container publishes `container_port` on, if it does."""
    return published_ports(container).get((container_port, protocol))


def service_published_port(client: DockerClient, project: str, service: str,
                           container_port: int, protocol: str = "tcp") -> int | None:
    """The host port a running container of a compose service publishes `container_port` on.

    Returns:
        The port, or None when no such container runs or it does not publish the port.
    """
    for c in running_service_containers(client, project, service):
        port = container_published_port(c, container_port, protocol)
        if port is not None:
            return port
    return None


def published_host_ports(containers: Iterable[Container]
                         ) -> dict[tuple[int, str], tuple[str, str]]:
    """(host port, protocol) -> (container name, compose project) of running containers."""
    published: dict[tuple[int, str], tuple[str, str]] = {}
    for c in containers:
        project = (c.labels or {}).get(COMPOSE_PROJECT, "")
        for (_, protocol), host_port in published_ports(c).items():
            published[(host_port, protocol)] = (c.name, project)
    return published


def published_ports(container: Container) -> dict[tuple[int, str], int]:
    """{(container port, protocol): host port} of a container's published ports."""
    found: dict[tuple[int, str], int] = {}
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for key, bindings in ports.items():
        number, _, protocol = key.partition("/")
        for binding in bindings or ():
            if str(binding.get("HostPort", "")).isdigit():
                found.setdefault((int(number), protocol or "tcp"), int(binding["HostPort"]))
    return found


def anonymous_mounts(c: Container) -> dict[str, str]:
    """Volumes Docker created for the container's image VOLUMEs (named by a 64-hex id), by
    their mount destination."""
    return {m["Destination"]: m["Name"] for m in c.attrs.get("Mounts") or []
            if m.get("Type") == "volume" and ANONYMOUS_VOLUME.fullmatch(m.get("Name") or "")}


def _anonymous_volumes(c: Container) -> list[str]:
    return sorted(anonymous_mounts(c).values())
