"""`GET /v1/units/{name}`: everything known about one unit, secrets masked.

The spec as it runs — a process's `@{service:port}` references replaced by the ports they stand
for, as the runner replaces them at its start — through the same masking `neodev config` uses;
the ports declared and published, the dependencies and whether each condition is met now, the
current status record, the last exit code and reload, and the unit's start timeline (waited
for dependencies from/to, started, ready).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from neodev.config.display import plan_for_display
from neodev.config.model import Probe, ProcessSpec, UnitSpec
from neodev.config.postgres import POSTGRES_PORT, is_postgres, libpq_dsn, postgres_credentials
from neodev.engine.verdicts import condition_met
from neodev.jsontypes import JsonObject
from neodev.protocol.units import (
    BackoffDetail,
    ConnectionInfo,
    DependencyDetail,
    PortDetail,
    ProbeDetail,
    ReloadCounts,
    UnitDetails,
)

if TYPE_CHECKING:
    from neodev.daemon.environment import Environment


def unit_details(env: Environment, name: str) -> UnitDetails:
    """The details of one unit (the unit must exist)."""
    plan = env.plan
    unit_spec: UnitSpec = plan.units[name]
    process = plan.processes.get(name)
    if process is not None:
        unit_spec = process = resolved(process, env.resolve_references)
        plan = plan.model_copy(update={"processes": {**plan.processes, name: process}})
    shown = plan_for_display(plan)
    is_container = name in plan.containers
    spec: JsonObject = (shown["containers"] if is_container else shown["processes"])[name]
    record = env.engine.status_of(name)
    supervisor = env.engine.supervisors[name]
    ports: list[PortDetail] = []
    container = plan.containers.get(name)
    for mapping in container.ports if container else ():
        ports.append(PortDetail(
            container_port=mapping.container_port, host_ip=mapping.host_ip,
            declared_host_port=mapping.host_port, protocol=mapping.protocol,
            published_host_port=env.published_port(name, mapping.container_port)))
    if process is not None and process.port is not None:
        ports.append(PortDetail(port=process.port))
    dependencies = tuple(
        DependencyDetail(service=dep.service, condition=str(dep.condition),
                         met=condition_met(dep.condition.value,
                                           env.engine.status_of(dep.service)),
                         state=str(env.engine.status_of(dep.service).state))
        for dep in unit_spec.depends_on)
    return UnitDetails(
        name=name, kind=record.kind, status=record, spec=spec, ports=tuple(ports),
        restart=str(unit_spec.restart),
        backoff=BackoffDetail(**unit_spec.backoff.model_dump()),
        readiness=_probe(unit_spec.readiness), liveness=_probe(unit_spec.liveness),
        depends_on=dependencies, last_exit_code=supervisor.last_exit_code,
        last_reload=record.last_reload,
        reloads=ReloadCounts(completed=env.engine.reloads.completed.get(name, 0),
                             ignored_while_stopped=env.engine.reloads.ignored.get(name, 0)),
        timeline=tuple(env.engine.timeline(name)))


def resolved(spec: ProcessSpec, resolve: Callable[[str], str]) -> ProcessSpec:
    """The process as its runner starts it: references in its environment, command and probe
    URLs replaced (`DB_PORT 5432`, not `@{postgres:5432}`)."""
    probes = {role: probe.model_copy(update={"url": resolve(probe.url)})
              for role, probe in (("readiness", spec.readiness), ("liveness", spec.liveness))
              if probe is not None and probe.url}
    return spec.model_copy(update={"env": {k: resolve(v) for k, v in spec.env.items()},
                                   "command": tuple(resolve(a) for a in spec.command),
                                   **probes})


def _probe(probe: Probe | None) -> ProbeDetail | None:
    return None if probe is None else ProbeDetail(**probe.model_dump())


def connection_string(env: Environment, name: str) -> ConnectionInfo:
    """How to connect to a unit, secrets included (the person asked for it, on the 0600
    socket): a libpq DSN for a Postgres container, else the unit's first URL or address."""
    container = env.plan.containers.get(name)
    if container is not None and is_postgres(container):
        user, password, database = postgres_credentials(container)
        declared = next((p.host_port for p in container.ports
                         if p.container_port == POSTGRES_PORT), None)
        port = env.published_port(name, POSTGRES_PORT) or declared
        if port is not None and password:
            return ConnectionInfo("postgres",
                                  libpq_dsn("127.0.0.1", port, user, password, database))
    endpoints = env.engine.status_of(name).endpoints
    if not endpoints:
        return ConnectionInfo()
    first = endpoints[0]
    if first.startswith("http"):
        return ConnectionInfo("url", first)
    address = first.split("->")[0]
    return ConnectionInfo("address", f"http://{address}")
