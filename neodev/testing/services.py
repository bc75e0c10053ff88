"""The profile's services for one test process: started lazily, shared by the whole run.

A service starts on first use, once per run, after what it depends on, in a container of the
run's own made as the dev environment makes it (`run_containers.py`). The Postgres service
(found by its settings as `neodev db` finds it, whatever its name) comes with databases of
the run's own (`run_databases.py`). The processes of a run (xdist workers) share the
containers through the run state (`run.py`): a service start — the service and what it
depends on — holds the run lock once, and the start order is computed once per run plan
(`settings.RunPlan`).

Failures are remembered (`outcomes.py`): once a service could not start (engine unreachable,
image missing, never healthy), every later test that needs it fails at once with the same
reason instead of waiting out another timeout.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from neodev.config.display import mask_text
from neodev.config.model import ContainerSpec, EnvironmentPlan
from neodev.errors import ConfigError, NeodevError, ServiceError
from neodev.instances.registry import read_instance
from neodev.paths import WorkspacePaths
from neodev.testing.databases import Migrate
from neodev.testing.endpoints import (
    PostgresService,
    ServiceEndpoint,
    postgres_endpoint,
    service_endpoint,
)
from neodev.testing.outcomes import Outcomes
from neodev.testing.run import RunInfo, record_owner
from neodev.testing.run_containers import RunContainers
from neodev.testing.run_databases import RunDatabases
from neodev.testing.settings import RunPlan, Settings, load_test_plan

log = logging.getLogger("neodev.testing")

PLAN = "plan"
POSTGRES = "postgres service"
TEMPLATE = "template"
"""Outcomes keys (a service's is `service <name>`)."""

StateOf = Callable[[], dict[str, Any]]
"""The run state, the run lock taken at the first call (and held by the caller)."""


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
        self._outcomes = Outcomes()
        self.containers = RunContainers(settings, run, self._environ, self._outcomes,
                                        self._mask)
        self.databases = RunDatabases(run, migrate or _no_migration)

    @property
    def removed_leftovers(self) -> list[str]:
        """What this process's janitor removed (leftovers of dead runs)."""
        return self.containers.removed_leftovers + self.databases.removed_leftovers

    @property
    def notes(self) -> list[str]:
        """What the run's owner tells at the end (e.g. that testcontainers' reaper was off)."""
        return self.containers.notes

    # -- the plan -------------------------------------------------------------------------

    @property
    def plan(self) -> EnvironmentPlan:
        """The profile's plan (loaded on first use; a ConfigError is remembered)."""
        return self._run_plan().plan

    @property
    def project(self) -> str:
        """The run's own compose project name: never the dev environment's."""
        return self._run_plan().project

    @property
    def network(self) -> str:
        return self._run_plan().network

    def secrets(self) -> list[str]:
        """Secret values to mask in anything shown (the plan's and the throwaway ones)."""
        return self._run_plan().secrets()

    def start_order(self, names: list[str]) -> list[str]:
        """The container services to start for `names`, dependencies first (processes left out).

        Raises:
            ServiceError: a name is not a container service of the profile.
        """
        return self._run_plan().start_order(names)

    @property
    def postgres_service(self) -> str:
        """The name of the profile's Postgres service, found by its settings (ini
        `neodev_postgres` names one when there are several).

        Raises:
            ConfigError: the profile has none, or several and none is named (remembered).
        """
        return self._outcomes.once(POSTGRES, lambda: self._run_plan().postgres(
            self.settings.postgres).name)

    def _run_plan(self) -> RunPlan:
        return self._outcomes.once(PLAN, self._load_plan)

    def _load_plan(self) -> RunPlan:
        plan, throwaway = load_test_plan(self.settings, self._environ)
        if throwaway:
            # Every process of the run must log in to the same containers: the values of the
            # first process that gets here are the run's.
            with self._locked("load the profile", services=len(plan.containers)) as state:
                shared: dict[str, str] = state.setdefault("secrets", {})
                values = {name: shared.setdefault(name, value) for name, value in throwaway.items()}
            if values != throwaway:
                plan, throwaway = load_test_plan(self.settings, self._environ,
                                                 lambda names: {n: values[n] for n in names})
        for warning in plan.warnings:
            log.info("profile %s: %s", plan.profile, warning)
        return RunPlan.of(plan, throwaway, self.run.session)

    # -- services -------------------------------------------------------------------------

    def service(self, name: str) -> ServiceEndpoint:
        """The named service, started (with its dependencies) if it is not yet.

        For Postgres the endpoint points at this process's session database.

        Raises:
            NeodevError: unknown service, engine unreachable, image missing, never healthy...
        """
        order = self.start_order([name])
        with contextlib.ExitStack() as stack:
            held: list[dict[str, Any]] = []

            def state() -> dict[str, Any]:
                if not held:  # one lock for the service and all it depends on
                    held.append(stack.enter_context(self._locked(f"start {name}")))
                return held[0]

            for needed in order:
                endpoint: ServiceEndpoint = self._outcomes.once(
                    _key(needed), functools.partial(self._open, needed, state))
        return endpoint

    def postgres(self) -> PostgresService:
        """The Postgres service on this process's session database."""
        endpoint = self.service(self.postgres_service)
        if not isinstance(endpoint, PostgresService):  # pragma: no cover - built in _open
            raise ServiceError(f"service {endpoint.name!r} has no Postgres endpoint")
        return endpoint

    def _open(self, name: str, state: StateOf) -> ServiceEndpoint:
        names = self._run_plan()
        spec = names.plan.containers[name]
        postgres = self._is_postgres(name)
        if postgres and self.settings.attach:
            server = self._dev_postgres(spec)
            state()["attach"] = True  # before creating anything: the owner drops what is ours
            return self.databases.attach(server)
        record = self.containers.shared(spec, names, state())
        ports = {int(k): int(v) for k, v in record["ports"].items()}
        if not postgres:
            return service_endpoint(spec, ports, record["container"])
        server = postgres_endpoint(spec, ports, record["container"])
        return self.databases.session_database(server)

    def _is_postgres(self, name: str) -> bool:
        try:
            return name == self.postgres_service
        except ConfigError:
            return False  # no (single) Postgres service: the other services still work

    def _dev_postgres(self, spec: ContainerSpec) -> PostgresService:
        """Attach mode: this workspace's instance's Postgres (its compose project is the
        instance's name, recorded by `neodev start`; the profile's, before any start)."""
        names = self._run_plan()
        record = read_instance(WorkspacePaths(self.settings.workspace))
        project = record.name if record is not None else names.plan.project
        return self.containers.dev_postgres(project, spec,
                                            "POSTGRES_PASSWORD" not in names.throwaway,
                                            names.plan.env_file)

    # -- databases ------------------------------------------------------------------------

    def database(self) -> PostgresService:
        """A fresh database cloned from the migrated template (drop it with `drop_database`).

        Raises:
            NeodevError: Postgres could not start, or the migration failed (remembered).
        """
        server = self.postgres()
        template = self._outcomes.once(TEMPLATE, functools.partial(self._template, server))
        return self.databases.clone(server, template)

    def drop_database(self, database: PostgresService) -> None:
        """Drop a database made by `database()` (its connections are terminated first)."""
        self.databases.drop(database)

    def _template(self, server: PostgresService) -> str:
        with self._locked("migrate the template") as state:
            return self.databases.template(server, state)

    # -- the run lock, the evidence -------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, what: str, services: int | None = None) -> Iterator[dict[str, Any]]:
        """The run state under the run lock, the owner recorded in it (for the janitor).

        Args:
            what: what the lock is taken for (named if waiting for it times out).
            services: the number of container services (default: the plan's), which bounds
                how long another process may hold the lock.
        """
        count = len(self.plan.containers) if services is None else services
        with self.run.state.locked(self.settings.lock_timeout(count), what) as state:
            record_owner(state, self.run)
            yield state

    def logs(self, name: str, lines: int) -> str | None:
        """The last `lines` of a started service's log, secrets masked; None if not started."""
        endpoint: ServiceEndpoint | None = self._outcomes.get(_key(name))
        if endpoint is None:
            return None
        return self.containers.logs(endpoint.container_id, lines)

    def _mask(self, text: str) -> str:
        return mask_text(text, self.secrets() if self._outcomes.get(PLAN) is not None else [])

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        """Close this process's connections (every process, at the end of its session).

        Services stay up: the run's owner removes them (`finish`), after every worker.
        """
        self.databases.close()
        self.containers.close()

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
        if recorded.get("attach"):
            try:
                spec = self.plan.containers[self.postgres_service]
                self.databases.drop_run(self._dev_postgres(spec))
            except NeodevError as e:
                problems.append(f"the run's databases on the dev Postgres: {e.message}")
        if recorded.get("network") or recorded.get("services") or recorded.get("failed"):
            problems += self.containers.remove_run()
        self.close()
        shutil.rmtree(state.directory, ignore_errors=True)  # a private temp dir
        return problems


def _key(service: str) -> str:
    return f"service {service}"


def _no_migration(_: PostgresService) -> None:
    """The template stays as CREATE DATABASE made it."""
