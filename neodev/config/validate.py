"""Whole-plan checks that no single file can make: the dependency graph, cross references, ports.

Each error points at the file and key that introduced the problem (`Source`), so a person can
fix the right line: unknown dependencies (with did-you-mean), cycles (shown as a path),
`@{service:port}` references, `healthy` conditions on units that cannot report health, and two
units publishing the same host port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from neodev.config.hints import brief, did_you_mean
from neodev.config.model import DependencyCondition, EnvironmentPlan, ProcessSpec
from neodev.config.references import EXAMPLE, find_references
from neodev.errors import ConfigError


@dataclass(frozen=True)
class Source:
    """Where a unit (or one of its settings) is defined."""

    file: str
    key: str
    """Dotted key path of the unit, e.g. `services.postgres` or `processes.backend`."""
    lines: Mapping[str, int] = field(default_factory=dict)

    def error(self, suffix: str, message: str) -> ConfigError:
        key = f"{self.key}.{suffix}" if suffix else self.key
        probe = key
        line = None
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe.rpartition(".")[0]
        return ConfigError(message, file=self.file, line=line, key=key)


def validate_plan(plan: EnvironmentPlan, sources: Mapping[str, Source],
                  dependency_sources: Mapping[tuple[str, str], Source] | None = None) -> None:
    """Check the assembled plan; raise the first problem found as a ConfigError.

    Args:
        plan: The plan to check.
        sources: unit name -> where it is defined.
        dependency_sources: (unit, dependency) -> where that edge is written, when it is not
            the unit's own definition (profile overrides of compose services).
    """
    units = plan.units
    dependency_sources = dependency_sources or {}
    for name, unit in units.items():
        for dep in unit.depends_on:
            src = dependency_sources.get((name, dep.service), sources[name])
            if dep.service not in units:
                valid = ", ".join(sorted(units))
                raise src.error("depends_on", f"{name!r} depends on unknown unit "
                                f"{dep.service!r}{did_you_mean(dep.service, units)} "
                                f"(units of this profile: {valid})")
            if dep.service == name:
                raise src.error("depends_on", f"{name!r} depends on itself")
            target = units[dep.service]
            if dep.condition == DependencyCondition.HEALTHY and target.readiness is None:
                raise src.error("depends_on", f"{name!r} waits for {dep.service!r} to be "
                                f"healthy, but {dep.service!r} has no healthcheck or readiness "
                                "probe: add one, or use the condition 'started'")
    _check_cycles(plan, sources)
    # Ports before references: a port changed in one place makes the references to the old
    # one invalid too, and the clash is the cause to name.
    _check_host_ports(plan, sources)
    for name, proc in plan.processes.items():
        _check_references(plan, name, proc, sources[name])


def _check_cycles(plan: EnvironmentPlan, sources: Mapping[str, Source]) -> None:
    graph = {name: [d.service for d in unit.depends_on] for name, unit in plan.units.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(graph):
        if root in state:
            continue
        # Depth-first with an explicit stack: a chain of a thousand units must not recurse.
        path = [root]
        pending = [iter(graph[root])]
        state[root] = 1
        while pending:  # each unit is pushed at most once: bounded by the number of units
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                raise sources[path[-1]].error("depends_on", "dependency cycle: "
                                              + " -> ".join(cycle))
            elif nxt in graph and nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(graph[nxt]))


def _check_references(plan: EnvironmentPlan, name: str, proc: ProcessSpec, src: Source
                      ) -> None:
    published = {svc: [p.container_port for p in c.ports] for svc, c in plan.containers.items()}
    published.update({other: declared_ports(spec) for other, spec in plan.processes.items()
                      if declared_ports(spec)})
    valid = ", ".join(f"@{{{svc}:{port}}}" for svc, ports in published.items()
                      for port in ports) or "none (no unit publishes or declares a port)"
    fields: list[tuple[str, str]] = [(f"env.{k}", v) for k, v in proc.env.items()]
    fields += [(f"command[{i}]", a) for i, a in enumerate(proc.command)]
    for probe_name, probe in (("readiness", proc.readiness), ("liveness", proc.liveness)):
        if probe is not None and probe.url:
            fields.append((f"{probe_name}.http", probe.url))
    for key, value in fields:
        for ref in find_references(value):
            if ref.service is None:
                raise src.error(key, f"malformed reference {brief(ref.text)}: write "
                                f"@{{service:container_port}} or @{{process:port}}, e.g. "
                                f"{EXAMPLE}")
            svc, port = ref.service, ref.port
            if svc not in published:
                raise src.error(key, f"{ref.text!r} names unknown unit {svc!r}"
                                f"{did_you_mean(svc, published)} (valid: {valid})")
            if port not in published[svc]:
                what = (f"container {svc!r} does not publish" if svc in plan.containers
                        else f"process {svc!r} does not declare (`port`, `extra_ports`)")
                raise src.error(key, f"{ref.text!r}: {what} port {port} (valid: {valid})")


def declared_ports(proc: ProcessSpec) -> list[int]:
    """The host ports a process says it listens on: `port`, then `extra_ports`."""
    return ([proc.port] if proc.port is not None else []) + list(proc.extra_ports)


def _check_host_ports(plan: EnvironmentPlan, sources: Mapping[str, Source]) -> None:
    owners: dict[tuple[int, str], str] = {}
    claims: list[tuple[str, int, str, str]] = []
    for name, container in plan.containers.items():
        claims += [(name, p.host_port, p.protocol, "ports") for p in container.ports
                   if p.host_port is not None]
    for name, proc in plan.processes.items():
        claims += [(name, port, "tcp", "port" if port == proc.port else "extra_ports")
                   for port in declared_ports(proc)]
    for name, port, proto, key in claims:
        other = owners.setdefault((port, proto), name)
        if other != name:
            raise sources[name].error(key, f"host port {port}/{proto} of {name!r} is already "
                                      f"used by {other!r}: give one of them another port")
