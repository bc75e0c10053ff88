"""An instance's host ports: the profile's own, or a block of consecutive ports.

Several checkouts of one repository run side by side (docs/decisions/instances.md). The first
instance of a profile keeps the ports the profile declares (what people and bookmarks
expect); any other instance gets a *block*: the distinct host ports the profile declares, in
sorted order, moved onto consecutive ports from the block's start. This module is the pure
half: which ports a plan declares, and the plan as it is with a given block — published
container ports, each process's `port` and `extra_ports`, its metrics port, the http/tcp probes
that point at one of those ports on loopback, and the kind mirror's ingress (the block's last
two ports: two instances' mirrors never both want 80/443). `@{service:port}` references follow at
run time (containers: the port Docker published; processes: `EnvironmentPlan.port_map`), and
so do URLs, the DSN, Prometheus targets and Grafana links, which are all computed from there.

Which block an instance gets (the first free one, recorded so it stays) is decided by
`neodev.instances.blocks`, with the machine's registry and a bind test.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from neodev.config.model import (
    ContainerSpec,
    EnvironmentPlan,
    PortMapping,
    Probe,
    ProcessSpec,
)
from neodev.errors import ConfigError

BLOCK_BASE = 20000
"""Where the first block starts: above the ports services usually declare, below the range
Linux hands out for outgoing connections (32768 and up)."""
BLOCK_STEP = 100
"""Distance between two blocks."""
INGRESS_PORTS = 2
"""The last ports of a block: the kind mirror's ingress, http then https."""
DECLARED_LIMIT = BLOCK_STEP - INGRESS_PORTS
"""The most distinct host ports one instance's profile may declare."""
BLOCK_LIMIT = 32700
"""No block starts at or beyond this (its ports would reach the ephemeral range)."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def declared_ports(plan: EnvironmentPlan) -> list[int]:
    """The distinct host ports the plan's units declare, sorted: published container ports
    with a fixed host port, and each process's `port` and `extra_ports`."""
    found = {p.host_port for c in plan.containers.values() for p in c.ports
             if p.host_port is not None}
    for proc in plan.processes.values():
        found.update(proc.extra_ports)
        if proc.port is not None:
            found.add(proc.port)
    return sorted(found)


def block_map(declared: list[int], start: int) -> dict[int, int]:
    """Declared port -> its port in the block starting at `start` (sorted order kept).

    Raises:
        ConfigError: more distinct ports than a block holds.
    """
    if len(declared) > DECLARED_LIMIT:
        raise ConfigError(f"the profile declares {len(declared)} distinct host ports; an "
                          f"instance's block holds at most {DECLARED_LIMIT}")
    return {port: start + index for index, port in enumerate(declared)}


def apply_port_block(plan: EnvironmentPlan, start: int) -> EnvironmentPlan:
    """The plan with its declared host ports moved into the block starting at `start`."""
    mapping = block_map(declared_ports(plan), start)
    containers = {name: _container(spec, mapping) for name, spec in plan.containers.items()}
    processes = {name: _process(spec, mapping) for name, spec in plan.processes.items()}
    cluster = plan.cluster
    if cluster is not None:
        http = start + DECLARED_LIMIT
        cluster = cluster.model_copy(update={"ingress_http_port": http,
                                             "ingress_https_port": http + 1})
    return plan.model_copy(update={"containers": containers, "processes": processes,
                                   "cluster": cluster, "port_block": start,
                                   "port_map": mapping, "profile_ports": False})


def _container(spec: ContainerSpec, mapping: dict[int, int]) -> ContainerSpec:
    ports = tuple(_published(p, mapping) for p in spec.ports)
    return spec.model_copy(update={"ports": ports,
                                   "readiness": _probe(spec.readiness, mapping),
                                   "liveness": _probe(spec.liveness, mapping)})


def _published(port: PortMapping, mapping: dict[int, int]) -> PortMapping:
    if port.host_port is None:
        return port  # Docker picks it: nothing to move
    return port.model_copy(update={"host_port": mapping.get(port.host_port, port.host_port)})


def _process(spec: ProcessSpec, mapping: dict[int, int]) -> ProcessSpec:
    update: dict[str, object] = {
        "port": mapping.get(spec.port, spec.port) if spec.port is not None else None,
        "extra_ports": tuple(mapping.get(p, p) for p in spec.extra_ports),
        "readiness": _probe(spec.readiness, mapping),
        "liveness": _probe(spec.liveness, mapping)}
    if spec.metrics is not None:  # a process's metrics port is a host port
        update["metrics"] = spec.metrics.model_copy(
            update={"port": mapping.get(spec.metrics.port, spec.metrics.port)})
    return spec.model_copy(update=update)


def _probe(probe: Probe | None, mapping: dict[int, int]) -> Probe | None:
    """A probe on loopback at a declared port, pointed at the instance's port instead."""
    if probe is None:
        return None
    if probe.kind == "tcp" and probe.port in mapping and probe.host in LOOPBACK_HOSTS:
        return probe.model_copy(update={"port": mapping[probe.port]})
    if probe.kind == "http" and probe.url:
        return probe.model_copy(update={"url": moved_url(probe.url, mapping)})
    return probe


def moved_url(url: str, mapping: dict[int, int]) -> str:
    """`url` with its port moved when it is a loopback URL at a declared port; else as is
    (another host, no port, or a port written as a reference, resolved at run time)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # `@{backend:8080}` in the port's place
        return url
    if port not in mapping or (parts.hostname or "") not in LOOPBACK_HOSTS:
        return url
    head, _, _ = parts.netloc.rpartition(":")
    return urlunsplit(parts._replace(netloc=f"{head}:{mapping[port]}"))
