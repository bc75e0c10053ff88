"""The profile's services for one test process: started lazily, shared by the whole run.

A service starts on first use, once per run, after what it depends on: a testcontainers
`DockerContainer` made from the same create arguments as the dev environment's container
(`neodev.docker.create_args`), except that its ports are random host ports on 127.0.0.1, its
named volumes are throwaway anonymous volumes, it sits on a network of its own, and everything
carries the run's labels. The process that starts a service records its container and ports in
the run state; other xdist workers of the run use them.

Failures are remembered: once a service could not start (engine unreachable, image missing,
never healthy), every later test that needs it fails at once with the same reason instead of
waiting out another timeout.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from docker import DockerClient
from docker.errors import DockerException, NotFound
from testcontainers.core.config import testcontainers_config

from neodev.config.display import mask_text, secret_values
from neodev.config.hints import did_you_mean
from neodev.config.model import ContainerSpec, EnvironmentPlan
from neodev.config.postgres import POSTGRES_PORT
from neodev.config.secrets import generate_secret
from neodev.docker.client import connect_from_env, engine_unreachable, translate
from neodev.docker.create_args import CreateOptions, config_hash, create_args
from neodev.docker.images import ensure_image
from neodev.docker.labels import PYTEST_SESSION, container_name
from neodev.docker.project import container_published_port
from neodev.engine.graph import start_waves, with_dependencies
from neodev.errors import DatabaseError, NeodevError
from neodev.testing.attach import dev_postgres
from neodev.testing.containers import to_testcontainer
from neodev.testing.databases import Databases, Migrate
from neodev.testing.endpoints import (
    PostgresService,
    ServiceEndpoint,
    postgres_endpoint,
    service_endpoint,
)
from neodev.testing.janitor import LeftoverError, owner_gone, remove_leftovers, remove_run
from neodev.testing.run import RunInfo, record_owner, worker_suffix
from neodev.testing.settings import (
    DOCKER_TIMEOUT,
    ENGINE_PROBE_TIMEOUT,
    Settings,
    load_test_plan,
)

log = logging.getLogger("neodev.testing")
T = TypeVar("T")

POSTGRES = "postgres"
"""The service `neodev_postgres`, `neodev_db` and attach mode are about."""


class ServiceError(NeodevError):
    """A test service could not be found, started or reached."""

    title = "Test service error"


class NeodevSession:
    """The services, databases and Docker resources of one test process.

    Nothing happens on construction; the plan is loaded and the engine contacted on first use.

    Args:
        settings: the plugin's resolved options.
        run: the run this process belongs to (shared with its xdist siblings).
        environ: the process environment (default: `os.environ`).
        migrate: runs the schema into the template database (once per run).
    """

    def __init__(self, settings: Settings, run: RunInfo,
                 environ: Mapping[str, str] | None = None, migrate: Migrate | None = None
                 ) -> None:
        self.settings = settings
        self.run = run
        self._environ = dict(os.environ if environ is None else environ)
        self._migrate = migrate or _no_migration
        self._plan: EnvironmentPlan | None = None
        self._throwaway: dict[str, str] = {}
        self._client: DockerClient | None = None
        self._endpoints: dict[str, ServiceEndpoint] = {}
        self._errors: dict[str, NeodevError] = {}
        self._databases: Databases | None = None
        self._template: str | None = None
        self.removed_leftovers: list[str] = []
        """What this process's janitor removed (leftovers of dead runs)."""

    # -- the plan -------------------------------------------------------------------------

    @property
    def plan(self) -> EnvironmentPlan:
        """The profile's plan (loaded on first use; a ConfigError is remembered)."""
        if self._plan is None:
            self._plan = self._remember("plan", self._load_plan)
        return self._plan

    def _load_plan(self) -> EnvironmentPlan:
        with self.run.state.locked(self.settings.lock_timeout, "load the profile") as state:
            record_owner(state, self.run)
            shared: dict[str, str] = state.setdefault("secrets", {})

            def throwaway(names: list[str]) -> dict[str, str]:
                # One value per run: every xdist worker must log in to the same containers.
                return {name: shared.setdefault(name, generate_secret()) for name in names}

            plan, self._throwaway = load_test_plan(self.settings, self._environ, throwaway)
        for warning in plan.warnings:
            log.info("profile %s: %s", plan.profile, warning)
        return plan

    @property
    def project(self) -> str:
        """The run's own compose project name: never the dev environment's."""
        return f"{self.plan.project}-pytest-{self.run.session}"

    @property
    def network(self) -> str:
        return f"{self.project}_default"

    def secrets(self) -> list[str]:
        """Secret values to mask in anything shown (the plan's and the throwaway ones)."""
        found = set(secret_values(self.plan)) | set(self._throwaway.values())
        return sorted(found, key=len, reverse=True)

    def start_order(self, names: list[str]) -> list[str]:
        """The container services to start for `names`, dependencies first.

        Process units (backend, frontend...) are not started by the plugin; a dependency on
        one is left out.

        Raises:
            ServiceError: a name is not a container service of the profile.
        """
        plan = self.plan
        for name in names:
            if name not in plan.containers:
                kind = "a process, not a container service" if name in plan.processes else (
                    f"not a service of profile {plan.profile!r}"
                    f"{did_you_mean(name, plan.containers)}")
                raise ServiceError(f"{name!r} is {kind}; container services: "
                                   f"{', '.join(plan.containers) or 'none'}")
        wanted = with_dependencies(plan.units, names) & set(plan.containers)
        return [n for wave in start_waves(plan.containers, wanted) for n in wave]

    # -- services -------------------------------------------------------------------------

    def service(self, name: str) -> ServiceEndpoint:
        """The named service, started (with its dependencies) if it is not yet.

        For Postgres the endpoint points at this process's session database.

        Raises:
            NeodevError: unknown service, engine unreachable, image missing, never healthy...
        """
        for needed in self.start_order([name]):
            if needed not in self._endpoints:
                self._endpoints[needed] = self._remember(
                    f"service {needed}", functools.partial(self._open, needed))
        return self._endpoints[name]

    def postgres(self) -> PostgresService:
        """The Postgres service on this process's session database."""
        endpoint = self.service(POSTGRES)
        if not isinstance(endpoint, PostgresService):  # pragma: no cover - built in _open
            raise ServiceError(f"service {POSTGRES!r} has no Postgres endpoint")
        return endpoint

    def _open(self, name: str) -> ServiceEndpoint:
        spec = self.plan.containers[name]
        if name == POSTGRES and self.settings.attach:
            return self._attach(spec)
        record = self._shared_container(spec)
        ports = {int(k): int(v) for k, v in record["ports"].items()}
        if name != POSTGRES:
            return service_endpoint(spec, ports, record["container"])
        server = postgres_endpoint(spec, ports, record["container"])
        if not self.run.worker:
            return server  # the profile's database, in a container of our own
        # xdist workers share the container: each gets a database of its own.
        return self._databases_on(server).create(f"{server.dbname}{worker_suffix(self.run)}")

    def _shared_container(self, spec: ContainerSpec) -> dict[str, Any]:
        client = self.client()
        with self.run.state.locked(self.settings.lock_timeout, f"start {spec.name}") as state:
            failed: dict[str, str] = state.setdefault("failed", {})
            if spec.name in failed:  # another worker of the run already tried
                raise ServiceError(failed[spec.name])
            services: dict[str, dict[str, Any]] = state.setdefault("services", {})
            if spec.name not in services:
                try:
                    services[spec.name] = self._start(client, spec, state)
                except NeodevError as e:
                    failed[spec.name] = e.message
                    raise
            return services[spec.name]

    def _start(self, client: DockerClient, spec: ContainerSpec, state: dict[str, Any]
               ) -> dict[str, Any]:
        """Create, start and wait for one container; returns its state record."""
        network = state.get("network")
        if network is None:
            self._docker(f"create network {self.network}", lambda: client.networks.create(
                self.network, driver="bridge", labels=self.run.labels))
            network = state["network"] = self.network
        image_id = self._docker(f"look up image {spec.image}", lambda: ensure_image(
            client, spec.image, spec.image_variable,
            lambda line: log.info("%s: %s", spec.name, line), self.settings.pull_timeout))
        image_user = self._docker(f"inspect image {spec.image}", lambda: str(
            (client.images.get(image_id).attrs.get("Config") or {}).get("User") or ""))
        args = create_args(spec, self.project, network,
                           config_hash(spec, self.project, network, image_id),
                           CreateOptions(name=container_name(self.project, spec.service),
                                         random_loopback_ports=True,
                                         throwaway_volumes=self.settings.volumes,
                                         image_user=image_user,
                                         labels=self.run.labels,
                                         max_health_interval=self.settings.health_interval))
        # Other services reach it by its compose name, as in the dev environment.
        args["networking_config"] = {network: client.api.create_endpoint_config(
            aliases=[spec.service])}
        container = to_testcontainer(args, self.settings.startup_timeout,
                                     POSTGRES_PORT if spec.name == POSTGRES else None)
        if self.run.worker:
            # Ryuk (where it can be pulled) would remove the container as soon as this worker
            # ends, while other workers of the run still use it; the run's owner and the
            # janitor remove it instead.
            testcontainers_config.ryuk_disabled = True
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
        self._docker(f"inspect service {spec.name}", wrapped.reload)
        ports: dict[str, int] = {}
        for p in spec.ports:
            host_port = container_published_port(wrapped, p.container_port, p.protocol)
            if host_port is not None:
                ports.setdefault(str(p.container_port), host_port)
        log.info("started %s as %s, ports %s", spec.name, wrapped.name, ports)
        container.get_docker_client().client.close()  # the container is known by id from now
        return {"container": str(wrapped.id), "ports": ports}

    def _attach(self, spec: ContainerSpec) -> PostgresService:
        """Attach mode: the dev environment's running Postgres, in a fresh session database."""
        server = self._dev_postgres(spec)
        with self.run.state.locked(self.settings.lock_timeout, "attach") as state:
            state["attach"] = True  # before creating anything: the owner drops what is ours
        databases = self._databases_on(server)
        # Databases of dead runs on the developer's server (by the labels in their comment).
        for name in databases.drop_labelled(owner_gone):
            self.removed_leftovers.append(f"database {name}")
        name = f"{server.dbname}_pytest_{self.run.session}{worker_suffix(self.run)}"
        return databases.create(name)

    def _dev_postgres(self, spec: ContainerSpec) -> PostgresService:
        plan, client = self.plan, self.client()
        return self._docker("find the dev Postgres", lambda: dev_postgres(
            client, plan.project, spec, "POSTGRES_PASSWORD" not in self._throwaway,
            plan.env_file))

    # -- databases ------------------------------------------------------------------------

    def database(self) -> PostgresService:
        """A fresh database cloned from the migrated template (drop it with `drop_database`).

        Raises:
            NeodevError: Postgres could not start, or the migration failed (remembered).
        """
        server = self.postgres()
        databases = self._databases_on(server)
        template = self._template or self._remember("template",
                                                    lambda: self._make_template(databases))
        self._template = template
        prefix = f"neodev_t_{self.run.session}{worker_suffix(self.run)}"
        return databases.create(databases.next_name(prefix), template=template)

    def drop_database(self, database: PostgresService) -> None:
        """Drop a database made by `database()` (its connections are terminated first)."""
        self._databases_on(database).drop(database.dbname)

    def _make_template(self, databases: Databases) -> str:
        with self.run.state.locked(self.settings.lock_timeout, "migrate the template") as state:
            if "template_failed" in state:
                raise DatabaseError(state["template_failed"])
            name: str | None = state.get("template")
            if name is None:
                name = f"neodev_template_{self.run.session}"
                try:
                    databases.make_template(name, self._migrate)
                except Exception as e:
                    error = e if isinstance(e, NeodevError) else DatabaseError(
                        f"the migration of the template database failed: "
                        f"{type(e).__name__}: {e}")
                    state["template_failed"] = error.message
                    raise error from e
                state["template"] = name
            return name

    def _databases_on(self, server: PostgresService) -> Databases:
        if self._databases is None:
            self._databases = Databases(server, self.run.labels)
        return self._databases

    # -- Docker ---------------------------------------------------------------------------

    def client(self) -> DockerClient:
        """The process's docker client; the first call checks the engine and runs the janitor.

        Raises:
            DockerError: no engine answers (within seconds), naming where it was looked for.
        """
        if self._client is None:
            self._client = self._remember("engine", self._connect)
        return self._client

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

    def _docker(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except NeodevError:
            raise
        except (DockerException, requests.exceptions.RequestException) as e:
            raise translate(e, what) from e

    # -- evidence -------------------------------------------------------------------------

    def logs(self, name: str, lines: int) -> str | None:
        """The last `lines` of a started service's log, secrets masked; None if not started."""
        endpoint = self._endpoints.get(name)
        if endpoint is None or self._client is None:
            return None
        client = self._client
        try:
            raw = client.containers.get(endpoint.container_id).logs(tail=lines)
        except NotFound:
            return f"(container {endpoint.container_id[:12]} is gone)"
        except (DockerException, requests.exceptions.RequestException) as e:
            return f"(could not read the log: {translate(e, 'read the log').message})"
        return self._mask(bytes(raw).decode(errors="replace"))

    def _tail_of(self, container: Any, lines: int) -> str:
        try:
            raw = container.get_wrapped_container().logs(tail=lines)
        except (DockerException, requests.exceptions.RequestException) as e:
            return f"(could not read the log: {e})"
        return self._mask(bytes(raw).decode(errors="replace")).rstrip() or "(no output)"

    def _mask(self, text: str) -> str:
        return mask_text(text, self.secrets() if self._plan is not None else [])

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        """Close this process's connections (every process, at the end of its session).

        Services stay up: the run's owner removes them (`finish`), after every worker.
        """
        if self._databases is not None:
            self._databases.close()
            self._databases = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def finish(self) -> list[str]:
        """End the run (its owner only): remove its containers, volumes, network, databases.

        Returns:
            Problems a person should know about (what could not be removed, and why).
        """
        self.close()
        state = self.run.state
        if not state.exists():
            return []  # no process of the run used a service
        recorded = state.read()
        problems: list[str] = []
        session = self.run.session
        if recorded.get("attach"):
            try:
                server = self._dev_postgres(self.plan.containers[POSTGRES])
                databases = Databases(server, self.run.labels)
                try:
                    databases.drop_labelled(lambda labels: labels.get(PYTEST_SESSION) == session)
                finally:
                    databases.close()
            except NeodevError as e:
                problems.append(f"the run's databases on the dev Postgres: {e.message}")
        if recorded.get("network") or recorded.get("services") or recorded.get("failed"):
            try:
                remove_run(self.client(), session)
            except LeftoverError as e:
                problems.append(str(e))
            except NeodevError as e:
                problems.append(e.message)
        self.close()
        shutil.rmtree(state.directory, ignore_errors=True)  # a private temp dir
        return problems

    def _remember(self, key: str, make: Callable[[], T]) -> T:
        """`make()`, or the error it raised the first time (a failure is not retried)."""
        if key in self._errors:
            raise self._errors[key]
        try:
            return make()
        except NeodevError as e:
            self._errors[key] = e
            raise


def _no_migration(_: PostgresService) -> None:
    """The template stays as CREATE DATABASE made it."""
