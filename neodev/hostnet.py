"""The host's network facts: where local processes listen (loopback, the Docker bridge gateway).

Facts about this machine, not about a driver: the process driver tells its processes where to
listen, the port check (`neodev.ports`) checks those addresses, and the Prometheus targets
(`neodev.telemetry`) point containers at them — so it sits below all three.

Decision (docs/decisions/loopback-and-prometheus.md): a process never listens on 0.0.0.0.
Prometheus runs in a container and reaches host processes through `host.docker.internal`,
which on Linux (`host-gateway`) is the default bridge's gateway address on the host (usually
172.17.0.1, interface docker0). A 127.0.0.1-only listener is unreachable from there
(reference §9), so every process is told, through its environment:

- `NEODEV_BIND_HOSTS` = `127.0.0.1,<gateway>` — the addresses to listen on (one listener each);
  the gateway address is reachable from the host itself and from containers, not from the LAN
  (it is not routed off the machine);
- `NEODEV_GATEWAY_IP` = `<gateway>` (empty when there is no Docker bridge, e.g. Docker Desktop,
  where `host.docker.internal` already reaches the host's loopback);
- `HOST` = `127.0.0.1` — for frameworks that take a single address (they stay loopback-only).

A profile's own `env` wins over these. `NEODEV_GATEWAY_IP` in neodev's own environment
overrides the detection ("" disables it).
"""

from __future__ import annotations

import os
import socket

import psutil

LOOPBACK = "127.0.0.1"
BRIDGE_INTERFACE = "docker0"
HOST_FROM_CONTAINERS = "host.docker.internal"
"""The name containers use for this host (`extra_hosts: host.docker.internal:host-gateway` on
Linux, built in on Docker Desktop): where Prometheus reaches the processes listening on the
addresses above."""


def docker_gateway_ip() -> str | None:
    """The IPv4 address of the default Docker bridge on this host, if there is one."""
    override = os.environ.get("NEODEV_GATEWAY_IP")
    if override is not None:
        return override or None
    for addr in psutil.net_if_addrs().get(BRIDGE_INTERFACE, []):
        if addr.family == socket.AF_INET:
            return str(addr.address)
    return None


def bind_hosts(gateway: str | None = None, detect: bool = True) -> list[str]:
    """The addresses a process listens on: loopback, plus the bridge gateway when there is one.

    Args:
        gateway: The bridge gateway address (None = detect it when `detect`).
        detect: Look up the docker0 address when `gateway` is None.
    """
    if gateway is None and detect:
        gateway = docker_gateway_ip()
    return [LOOPBACK] + ([gateway] if gateway and gateway != LOOPBACK else [])


def bind_env(gateway: str | None = None, detect: bool = True) -> dict[str, str]:
    """The environment telling a process where to listen.

    Args:
        gateway: The bridge gateway address (None = detect it when `detect`).
        detect: Look up the docker0 address when `gateway` is None.

    Returns:
        `NEODEV_BIND_HOSTS`, `NEODEV_GATEWAY_IP` and `HOST`.
    """
    if gateway is None and detect:
        gateway = docker_gateway_ip()
    hosts = bind_hosts(gateway, detect=False)
    return {"NEODEV_BIND_HOSTS": ",".join(hosts), "NEODEV_GATEWAY_IP": gateway or "",
            "HOST": LOOPBACK}
