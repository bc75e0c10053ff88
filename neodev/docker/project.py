"""One compose project on the Docker engine: its network, volumes, containers and host ports.

Everything is found by label (`com.docker.compose.project=<project>`), never by guessing names,
so containers created by `docker compose -p <project>` and by neodev are the same thing.
`down` keeps volumes unless asked, and reports by name what it removed.

When the project is an instance's (an `Owner`: docs/decisions/instances.md), what it creates
carries the instance and its workspace, and what it finds with its names is looked at first:
another workspace's (or an unlabelled) network or volume is refused, naming whose it is,
never taken over. Volumes are created here, explicitly and labelled, before any container
mounts them — never left to Docker's implicit creation, which makes unlabelled volumes — and a
Postgres data volume remembers a fingerprint of the credentials it was made for. `down` leaves
what is not the instance's alone, and names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Iterable, Mapping

from docker import DockerClient
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from neodev.config.model import ContainerSpec, network_name
from neodev.config.postgres import is_postgres, postgres_credentials
from neodev.docker.client import ClientFactory, stop_timeout, translate
from neodev.docker.labels import (
    COMPOSE_NETWORK,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    COMPOSE_VOLUME,
    NEODEV_PROJECT,
    NEODEV_WORKSPACE,
    POSTGRES_CREDENTIALS,
    Owner,
    credentials_fingerprint,
    refusal,
    same_credentials,
)
from neodev.errors import DockerError, ForeignResourceError
from neodev.protocol.documents import DownReport

Credentials = tuple[str, str]
"""(user, password) a Postgres data volume is made for."""

ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")




class DockerProject:
    """Network, volumes, containers and host ports of one compose project.

    Args:
        project: compose project name.
        client_factory: shared `ClientFactory` (a new one when omitted).
        extra_labels: labels added to the network and volumes this object creates (tests
            mark theirs with `dev.neodev.test=1`).
        owner: the instance the project is (None: no workspace checks, as for the driver's
            own tests).
    """

    def __init__(self, project: str, client_factory: ClientFactory | None = None,
                 extra_labels: Mapping[str, str] | None = None,
                 owner: Owner | None = None) -> None:
        self.project = project
        self.network = network_name(project)
        self.owner = owner
        self._clients = client_factory or ClientFactory()
        self._extra_labels = dict(extra_labels or {})

    def _labels(self, **more: str) -> dict[str, str]:
        own = self.owner.labels if self.owner is not None else {}
        return {**self._extra_labels, COMPOSE_PROJECT: self.project,
                NEODEV_PROJECT: self.project, **own, **more}

    def _refuse_foreign(self, kind: str, name: str, labels: Mapping[str, str]) -> None:
        problem = self.owner and refusal(kind, name, labels, self.owner, self.project)
        if problem:
            raise ForeignResourceError(problem, resource=name,
                                       workspace=labels.get(NEODEV_WORKSPACE))

    async def ensure_network(self) -> str:
        """Get or create the project network `<project>_default`; return its name."""

        def run(client: DockerClient) -> str:
            # names= may match substrings (reference §2): compare exactly.
            found = [n for n in client.networks.list(names=[self.network])
                     if n.name == self.network]
            if not found:
                client.networks.create(self.network, driver="bridge",
                                       labels=self._labels(**{COMPOSE_NETWORK: "default"}))
            for net in found:
                self._refuse_foreign("network", net.name, net.attrs.get("Labels") or {})
            return self.network

        return await self._clients.call(f"create network {self.network}", run)

    async def ensure_volumes(self, names: Iterable[str],
                             credentials: Mapping[str, Credentials] | None = None) -> list[str]:
        """Create the named volumes that do not exist yet (full, project-prefixed names),
        labelled; with an owner, check the ones that exist are its own.

        Args:
            names: The volumes.
            credentials: Postgres data volumes -> (user, password) their server is made with
                (`volume_credentials`): a new one records their fingerprint, an existing one
                is checked against it.

        Returns:
            The names of the volumes created by this call.

        Raises:
            ForeignResourceError: a volume is another workspace's, or unlabelled.
            DockerError: a Postgres volume was made for other credentials.
        """
        wanted = list(names)
        made_for = dict(credentials or {})

        def run(client: DockerClient) -> list[str]:
            return [name for name in wanted
                    if self.claim_volume(client, name, made_for.get(name))]

        return await self._clients.call(f"create volumes {', '.join(wanted)}", run)

    def claim_volume(self, client: DockerClient, name: str,
                     credentials: Credentials | None = None) -> bool:
        """Make one named volume exist as the project's (blocking); True when created now.

        A create that meets a volume made meanwhile (Docker then answers with that one, as a
        concurrent start of another checkout may) looks at its labels like any existing one.
        """
        try:
            volume = client.volumes.get(name)
        except NotFound:
            short = name.removeprefix(f"{self.project}_")
            labels = self._labels(**{COMPOSE_VOLUME: short})
            if credentials is not None:
                labels[POSTGRES_CREDENTIALS] = credentials_fingerprint(*credentials)
            volume = client.volumes.create(name, driver="local", labels=labels)
            if (volume.attrs.get("Labels") or {}) == labels:
                return True
        found = volume.attrs.get("Labels") or {}
        self._refuse_foreign("volume", name, found)
        fingerprint = found.get(POSTGRES_CREDENTIALS)
        if credentials is not None and fingerprint and \
                same_credentials(fingerprint, *credentials) is False:
            raise DockerError(
                f"volume {name} was initialised with other credentials than "
                f"POSTGRES_USER={credentials[0]!r} and the POSTGRES_PASSWORD set now (.env, the "
                "environment or .neodev/secrets.env): its server would refuse them. Restore "
                "the ones it was made with, or delete its data with `neodev down --volumes` "
                "(the next start initialises it afresh)",
                title="Data volume initialised with other credentials")
        return False

    def _containers_sync(self, client: DockerClient) -> list[Container]:
        found: list[Container] = client.containers.list(
            all=True, filters={"label": [f"{COMPOSE_PROJECT}={self.project}"]})
        return found

    async def down(self, remove_volumes: bool = False, grace: float = 10.0,
                   volumes: Iterable[str] = ()) -> DownReport:
        """Stop and remove the project's containers and network; volumes only when asked.

        Args:
            remove_volumes: also delete the project's volumes (by label, and the named ones
                of `volumes`) and list them.
            grace: seconds each container gets to stop before it is killed.
            volumes: the volume names the instance's plan covers (an unlabelled one is named
                in the report, not deleted).

        Returns:
            A DownReport naming what was removed, what could not be, and what was left alone
            because it is not the instance's.
        """
        found = await self._clients.call(f"list containers of project {self.project}",
                                         self._containers_sync)
        left_alone: list[str] = []
        containers = []
        for c in found:
            problem = self.owner and refusal("container", c.name, c.labels or {}, self.owner,
                                             self.project)
            if problem:
                left_alone.append(problem)
            else:
                containers.append(c)

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

        network = await self._clients.call(
            f"remove network {self.network}",
            lambda cl: self._remove_network(cl, problems, left_alone))
        deleted: list[str] = []
        if remove_volumes:
            anonymous = sorted({name for c in containers for name in _anonymous_volumes(c)})
            deleted += await self._clients.call(
                "remove anonymous volumes",
                lambda cl: self._remove_anonymous(cl, anonymous, problems))
            named = list(volumes)
            deleted += await self._clients.call(
                f"remove volumes of project {self.project}",
                lambda cl: self._remove_volumes(cl, named, problems, left_alone))
        return DownReport(tuple(sorted(removed)), network, tuple(deleted), tuple(problems),
                          tuple(left_alone))

    def _remove_network(self, client: DockerClient, problems: list[str],
                        left_alone: list[str]) -> str | None:
        for net in client.networks.list(names=[self.network]):
            if net.name != self.network:
                continue
            problem = self.owner and refusal("network", net.name, net.attrs.get("Labels") or {},
                                             self.owner, self.project)
            if problem:
                left_alone.append(problem)
                return None
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

    def _remove_volumes(self, client: DockerClient, named: list[str], problems: list[str],
                        left_alone: list[str]) -> list[str]:
        deleted = []
        found = {v.name: v for v in client.volumes.list(
            filters={"label": f"{COMPOSE_PROJECT}={self.project}"})}
        for name in named:
            if name not in found:
                with contextlib.suppress(NotFound):
                    found[name] = client.volumes.get(name)
        for vol in found.values():
            problem = self.owner and refusal("volume", vol.name, vol.attrs.get("Labels") or {},
                                             self.owner, self.project)
            if problem:
                left_alone.append(problem)
                continue
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


def volume_credentials(containers: Iterable[ContainerSpec]) -> dict[str, Credentials]:
    """The named volumes of Postgres services -> the (user, password) their server is
    initialised with (`neodev.config.postgres`)."""
    found: dict[str, Credentials] = {}
    for spec in containers:
        if is_postgres(spec):
            user, password, _ = postgres_credentials(spec)
            found.update({m.source: (user, password) for m in spec.volumes
                          if m.type == "volume"})
    return found
