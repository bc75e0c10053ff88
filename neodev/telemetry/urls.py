"""Where Grafana, Prometheus and Loki answer on this machine, and a Grafana link to a unit's logs.

Why this module exists: status output, the CLI and the dashboard point people at the
observability services, and their addresses come from the plan (the compose `ports:`), or from
Docker when it picked the host port at run time. One pure place computes them, and the Grafana
Explore link for one unit's logs, so every client shows the same URLs.

All URLs use 127.0.0.1 (not `localhost`, which may resolve to ::1 or go through a proxy) for
ports published on loopback or on every address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final
from urllib.parse import quote, urlencode

from neodev.config.model import EnvironmentPlan
from neodev.telemetry import labels

GRAFANA: Final = ("grafana", 3000)
PROMETHEUS: Final = ("prometheus", 9090)
LOKI: Final = ("loki", 3100)
"""(compose service, container port) of each service, as in compose/docker-compose.local.yml."""

LOKI_DATASOURCE_UID: Final = "neodev-loki"
"""The Loki datasource provisioned in compose/grafana/provisioning/datasources."""

PublishedPort = Callable[[str, int], "int | None"]
"""(unit, container port) -> the host port Docker published, if known (the daemon's
`Environment.published_port`)."""

_LOOPBACK_EQUIVALENT = {"", "0.0.0.0", "127.0.0.1"}


def service_url(plan: EnvironmentPlan, service: str, container_port: int,
                published: PublishedPort | None = None) -> str | None:
    """`http://<host>:<port>` of a container port of a compose service, None if unpublished.

    Args:
        plan: The environment plan.
        service: The compose service name.
        container_port: The port inside the container.
        published: The host ports Docker actually published (used first; the plan's fixed
            host port otherwise).
    """
    for spec in plan.containers.values():
        if spec.service != service:
            continue
        for mapping in spec.ports:
            if mapping.container_port != container_port or mapping.protocol != "tcp":
                continue
            port = published(spec.name, container_port) if published else None
            port = port or mapping.host_port
            if port is None:
                return None  # Docker picks it at start, and it is not known yet
            return f"http://{_host(mapping.host_ip)}:{port}"
    return None


def grafana_url(plan: EnvironmentPlan, published: PublishedPort | None = None) -> str | None:
    """Grafana's URL (compose publishes 127.0.0.1:3001 -> 3000), None without Grafana."""
    return service_url(plan, *GRAFANA, published)


def prometheus_url(plan: EnvironmentPlan, published: PublishedPort | None = None) -> str | None:
    """Prometheus' URL, None without Prometheus."""
    return service_url(plan, *PROMETHEUS, published)


def loki_url(plan: EnvironmentPlan, published: PublishedPort | None = None) -> str | None:
    """Loki's URL (the shipper's push target), None without Loki."""
    return service_url(plan, *LOKI, published)


def unit_logs_query(project: str, unit: str) -> str:
    """The LogQL stream selector of one unit's lines: `{project="...", unit="..."}`."""
    return (f'{{{labels.PROJECT}="{_logql_string(project)}", '
            f'{labels.UNIT}="{_logql_string(unit)}"}}')


def grafana_explore_url(grafana: str, project: str, unit: str) -> str:
    """Grafana Explore showing one unit's logs from Loki, over the last hour.

    The form is Explore's URL schema version 1 (Grafana 10.2 and later; the shipped Grafana is
    12): `/explore?schemaVersion=1&panes={"<pane id>": {datasource, queries, range}}&orgId=1`,
    the `panes` value being URL-encoded JSON. It is what Grafana itself puts in the address bar
    (`ExploreURLV1` of its Explore URL parser, the `v1Migrator`); the older `?left=[...]` form
    is only migrated on load.

    Args:
        grafana: Grafana's base URL (`grafana_url(plan)`).
        project: The plan's project (the `project` label).
        unit: The unit whose lines to show.
    """
    datasource = {"type": "loki", "uid": LOKI_DATASOURCE_UID}
    panes = {"neodev": {
        "datasource": LOKI_DATASOURCE_UID,
        "queries": [{"refId": "A", "datasource": datasource,
                     "expr": unit_logs_query(project, unit), "queryType": "range",
                     "editorMode": "code"}],
        "range": {"from": "now-1h", "to": "now"}}}
    query = urlencode({"schemaVersion": "1",
                       "panes": json.dumps(panes, separators=(",", ":")),
                       "orgId": "1"}, quote_via=quote, safe="")
    return f"{grafana.rstrip('/')}/explore?{query}"


def _host(host_ip: str) -> str:
    if host_ip in _LOOPBACK_EQUIVALENT:
        return "127.0.0.1"
    if ":" in host_ip:  # IPv6: "::" (every address) is reached on ::1
        return "[::1]" if host_ip == "::" else f"[{host_ip}]"
    return host_ip


def _logql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
