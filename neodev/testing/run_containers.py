"""The run's containers on the Docker engine, as one test process sees them.

A service's container is made from the same create arguments as the dev environment's
(`neodev.docker.create_args`), except that its ports are random host ports on 127.0.0.1, its
named volumes are throwaway ones, it sits on a network of the run's own, and everything carries
the run's labels; testcontainers starts it and waits for it (`containers.py`). The process
that starts a service records its container and ports in the run state; the other xdist
workers of the run use them. The first connection to the engine runs the janitor, which
removes what dead runs left.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests
from docker import DockerClient
from docker.errors import DockerException, NotFound
from testcontainers.core.config import testcontainers_config

from neodev.config.model import ContainerSpec
from neodev.config.postgres import POSTGRES_PORT, is_postgres
from neodev.docker.client import connect_from_env, engine_unreachable, translate
from neodev.docker.create_args import CreateOptions, config_hash, create_args
from neodev.docker.images import ensure_image
from neodev.docker.labels import container_name
from neodev.docker.project import container_published_port
from neodev.errors import ImageUnavailableError, LeftoverError, NeodevError, ServiceError
from neodev.jsontypes import JsonObject
from neodev.testing.attach import dev_postgres
from neodev.testing.containers import to_testcontainer
from neodev.testing.endpoints import PostgresService
from neodev.testing.janitor import remove_leftovers, remove_run
from neodev.testing.outcomes import Outcomes
from neodev.testing.run import RunInfo
from neodev.testing.settings import DOCKER_TIMEOUT, ENGINE_PROBE_TIMEOUT, RunPlan, Settings

log = logging.getLogger("neodev.testing")
T = TypeVar("T")

ENGINE = "engine"
"""The Outcomes key of the engine connection."""
REAPER = "reaper"
"""The Outcomes key of the check of testcontainers' reaper (Ryuk)."""


class RunContainers:
    """Starts the run's containers (once per run), reads their logs, removes them.

    Args:
        settings: the plugin's options.
        run: the run this process belongs to.
        environ: the process environment (where the engine is).
        outcomes: the session's memory: the engine is connected to once, a failure kept.
        mask: hides the run's secrets in what is shown (log lines, error messages).
    """

    def __init__(self, settings: Settings, run: RunInfo, environ: Mapping[str, str],
                 outcomes: Outcomes, mask: Callable[[str], str]) -> None:
        self.settings = settings
        self.run = run
        self._environ = environ
        self._outcomes = outcomes
        self._mask = mask
        self.removed_leftovers: list[str] = []
        """What this process's janitor removed (leftovers of dead runs)."""
        self.notes: list[str] = []
        """What the run's owner should tell at the end (the reaper turned off, and why)."""

    # -- the engine -----------------------------------------------------------------------

    def client(self) -> DockerClient:
        """The process's docker client; the first call checks the engine and runs the janitor.

        Raises:
            DockerError: no engine answers (within seconds), naming where it was looked for.
        """
        return self._outcomes.once(ENGINE, self._connect)

    def _connect(self) -> DockerClient:
        try:
            # A short timeout first: an unreachable engine fails in seconds, not a minute.
            connect_from_env(self._environ, timeout=ENGINE_PROBE_TIMEOUT).close()
            client = connect_from_env(self._environ, timeout=DOCKER_TIMEOUT)
        except (DockerException, requests.exceptions.RequestException) as e:
            raise engine_unreachable(e, self._environ, "start the test services") from e
        try:
            self.removed_leftovers += remove_leftovers(client)
        except LeftoverError as e:
            self.removed_leftovers += e.removed
            log.warning("leftovers of earlier test runs: %s", e)
        if self.removed_leftovers:
            log.info("removed leftovers of earlier test runs: %s",
                     ", ".join(self.removed_leftovers))
        return client

    def docker(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, its docker SDK errors translated into a DockerError naming `what`."""
        try:
            return call()
        except NeodevError:
            raise
        except (DockerException, requests.exceptions.RequestException) as e:
            raise translate(e, what) from e

    # -- services -------------------------------------------------------------------------

    def shared(self, spec: ContainerSpec, names: RunPlan, state: JsonObject
               ) -> JsonObject:
        """The run's container of `spec`: started by this process if no process of the run
        has yet. Call it holding the run lock (`state` is the run state it yields).

        Returns:
            Its record: `{"container": id, "ports": {container port: host port}}`.

        Raises:
            NeodevError: this process, or another one of the run, could not start it.
            DockerError: this process cannot reach the engine (not the service's failure).
        """
        client = self.client()
        failed: dict[str, str] = state.setdefault("failed", {})
        if spec.name in failed:  # another worker of the run already tried
            raise ServiceError(failed[spec.name])
        services: dict[str, JsonObject] = state.setdefault("services", {})
        if spec.name not in services:
            try:
                services[spec.name] = self._start(client, spec, names, state)
            except NeodevError as e:
                failed[spec.name] = e.message
                raise
        return services[spec.name]

    def _start(self, client: DockerClient, spec: ContainerSpec, names: RunPlan,
               state: JsonObject) -> JsonObject:
        """Create, start and wait for one container; returns its state record."""
        network = state.get("network")
        if network is None:
            self.docker(f"create network {names.network}", lambda: client.networks.create(
                names.network, driver="bridge", labels=self.run.labels))
            network = state["network"] = names.network
        image_id = self.docker(f"look up image {spec.image}", lambda: ensure_image(
            client, spec.image, spec.image_variable,
            lambda line: log.info("%s: %s", spec.name, line), self.settings.pull_timeout))
        image_user = self.docker(f"inspect image {spec.image}", lambda: str(
            (client.images.get(image_id).attrs.get("Config") or {}).get("User") or ""))
        args = create_args(spec, names.project, network,
                           config_hash(spec, names.project, network, image_id),
                           CreateOptions(name=container_name(names.project, spec.service),
                                         random_loopback_ports=True,
                                         throwaway_volumes=self.settings.volumes,
                                         image_user=image_user,
                                         labels=self.run.labels,
                                         max_health_interval=self.settings.health_interval))
        # Other services reach it by its compose name, as in the dev environment.
        args["networking_config"] = {network: client.api.create_endpoint_config(
            aliases=[spec.service])}
        container = to_testcontainer(args, self.settings.startup_timeout,
                                     POSTGRES_PORT if _serves_postgres(spec) else None)
        if self.run.worker:
            # Ryuk (where it can be pulled) would remove the container as soon as this worker
            # ends, while other workers of the run still use it; the run's owner and the
            # janitor remove it instead.
            testcontainers_config.ryuk_disabled = True
        else:
            self._outcomes.once(REAPER, lambda: self._reaper_or_janitor(client))
        try:
            container.start()
        except (TimeoutError, RuntimeError) as e:
            logs = self._tail_of(container, self.settings.log_lines)
            # A half-started container is removed at once; should that fail too, the error
            # below is the one to report, and the run's owner removes it by label anyway.
            with contextlib.suppress(DockerException, requests.exceptions.RequestException):
                container.stop()
            raise ServiceError(
                f"service {spec.name} (image {spec.image}) did not become ready within "
                f"{self.settings.startup_timeout:g} s: {self._mask(str(e).splitlines()[0])}"
                f"\n--- last lines of its log ---\n{logs}", title="Test service not ready"
            ) from e
        except (DockerException, requests.exceptions.RequestException) as e:
            with contextlib.suppress(DockerException, requests.exceptions.RequestException):
                container.stop()  # as above: the owner's cleanup by label is the backstop
            raise translate(e, f"start container for service {spec.name}") from e
        wrapped = container.get_wrapped_container()
        self.docker(f"inspect service {spec.name}", wrapped.reload)
        ports: dict[str, int] = {}
        for p in spec.ports:
            host_port = container_published_port(wrapped, p.container_port, p.protocol)
            if host_port is not None:
                ports.setdefault(str(p.container_port), host_port)
        log.info("started %s as %s, ports %s", spec.name, wrapped.name, ports)
        container.get_docker_client().client.close()  # the container is known by id from now
        return {"container": str(wrapped.id), "ports": ports}

    def _reaper_or_janitor(self, client: DockerClient) -> bool:
        """testcontainers starts its reaper (Ryuk) before the first container, and a reaper
        whose image cannot be had fails that container's start ("Docker refused to start
        container for service postgres"). The run does not need it: its owner removes the
        run's containers at the end and the janitor what a killed run left, at the next start.
        So where the image cannot be had, the reaper is turned off for the run, and said.

        Returns:
            Whether the reaper runs.
        """
        if testcontainers_config.ryuk_disabled:
            return False
        image = testcontainers_config.ryuk_image
        try:
            self.docker(f"look up image {image}", lambda: ensure_image(
                client, image, None, lambda line: log.info("reaper: %s", line),
                self.settings.pull_timeout))
        except ImageUnavailableError as e:
            testcontainers_config.ryuk_disabled = True
            why = e.message.split(". Build or load it")[0]
            self.notes.append(
                f"testcontainers' reaper (Ryuk) is off for this run: {why}. Nothing is left "
                "behind for it: neodev removes the run's containers at its end, and what a "
                "killed run left at the next run's start, so TESTCONTAINERS_RYUK_DISABLED=true "
                "is safe (and skips this check).")
            log.warning("%s", self.notes[-1])
            return False
        return True

    def dev_postgres(self, project: str, spec: ContainerSpec, password_known: bool,
                     env_file: Path | None) -> PostgresService:
        """Attach mode: the dev environment's running Postgres (`attach.dev_postgres`).

        Raises:
            AttachError: it is not there, not healthy, or its password is unknown.
            DockerError: the engine is unreachable.
        """
        client = self.client()
        return self.docker("find the dev Postgres", lambda: dev_postgres(
            client, project, spec, password_known, env_file))

    # -- evidence and the end -------------------------------------------------------------

    def logs(self, container_id: str, lines: int) -> str | None:
        """The last `lines` of a container's log, secrets masked (or why they cannot be
        read); None without a connection to the engine."""
        client: DockerClient | None = self._outcomes.get(ENGINE)
        if client is None:
            return None
        try:
            raw = client.containers.get(container_id).logs(tail=lines)
        except NotFound:
            return f"(container {container_id[:12]} is gone)"
        except (DockerException, requests.exceptions.RequestException) as e:
            return f"(could not read the log: {translate(e, 'read the log').message})"
        return self._mask(bytes(raw).decode(errors="replace"))

    def _tail_of(self, container: Any, lines: int) -> str:
        try:
            raw = container.get_wrapped_container().logs(tail=lines)
        except (DockerException, requests.exceptions.RequestException) as e:
            return f"(could not read the log: {e})"
        return self._mask(bytes(raw).decode(errors="replace")).rstrip() or "(no output)"

    def remove_run(self) -> list[str]:
        """Remove the run's containers, volumes and network (the owner, at the end).

        Returns:
            Problems a person should know about (what could not be removed, and why).
        """
        try:
            remove_run(self.client(), self.run.session)
        except NeodevError as e:  # LeftoverError names what is left, and why
            return [e.message]
        return []

    def close(self) -> None:
        """Close the connection to the engine (the next use connects again)."""
        client: DockerClient | None = self._outcomes.forget(ENGINE)
        if client is not None:
            client.close()


def _serves_postgres(spec: ContainerSpec) -> bool:
    """A Postgres server publishing 5432: ready only once it answers there from the host."""
    return is_postgres(spec) and any(p.container_port == POSTGRES_PORT for p in spec.ports)
