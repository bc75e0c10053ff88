"""One translation from a `ContainerSpec` to the arguments a container is created with.

The dev environment (`ContainerRunner`) and the pytest plugin (`neodev.testing`, through
testcontainers) must start the *same* container from the same compose service, so the
translation exists once, here, as a pure function: no docker SDK import (the plugin's
import-time cost and the unit tests stay free of it), no client, no I/O. What needs a client —
network aliases through `networking_config` — stays with the caller.

The result is the keyword arguments of docker-py's `containers.create(**kwargs)` (the image
included): healthcheck durations in Docker's integer nanoseconds, ports as docker-py `ports=`
bindings, volumes as `"source:target:mode"` strings, and restart policy "no" because restarts
belong to neodev's engine (or, in tests, to nobody).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neodev.config.model import ContainerSpec, HealthcheckSpec, PortMapping, VolumeMount
from neodev.docker.labels import container_labels

NANOS = 1_000_000_000
LOOPBACK = "127.0.0.1"

HASHED_FIELDS = {"service", "image", "command", "entrypoint", "environment", "ports", "volumes",
                 "healthcheck", "extra_hosts", "labels", "user", "working_dir", "stop_signal"}
"""Spec fields that shape the container. Engine-side fields (depends_on, restart, readiness,
stop_grace) are left out: changing them must not recreate a container."""

PortBinding = tuple[str, int | None]
"""One docker-py port binding: (host ip, host port); a host port of None = Docker picks one."""


@dataclass(frozen=True)
class CreateOptions:
    """How a caller wants the spec's container shaped beyond what the spec says.

    The defaults reproduce the dev environment; the pytest plugin asks for random loopback
    ports, throwaway volumes and its own labels.
    """

    name: str | None = None
    """Container name; None lets Docker pick one."""
    random_loopback_ports: bool = False
    """Publish every container port on 127.0.0.1 with a host port Docker picks, ignoring the
    spec's fixed host ports and host IPs (parallel test runs never collide, and nothing listens
    beyond the loopback interface)."""
    throwaway_volumes: bool = False
    """Replace the spec's named volumes with anonymous volumes that carry `labels` and are
    removed with the container (`remove(v=True)`): a test's data never touches the developer's
    volumes, and a crashed run's volumes are still found by label. Bind mounts stay."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on the container (and on throwaway volumes); they win over the spec's."""
    inherited_volumes: Mapping[str, str] = field(default_factory=dict)
    """Mount destination -> anonymous volume name of a replaced container, mounted again where
    the spec has no mount of its own (compose keeps such data on recreate)."""
    max_health_interval: float | None = None
    """Cap on the healthcheck interval, in seconds. Readiness waits on the healthcheck, so a
    test run polls it more often; retries are scaled up so an unhealthy verdict still takes as
    long as with the spec's own interval. The check itself is unchanged."""


def config_hash(spec: ContainerSpec, project: str, network: str, image_id: str) -> str:
    """sha256 of the canonical JSON of what the container is made from.

    The resolved image id is part of it, so a rebuilt image counts as a change.
    """
    shaped = spec.model_dump(mode="json", include=HASHED_FIELDS)
    shaped.update(project=project, network=network, image_id=image_id)
    canonical = json.dumps(shaped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_args(spec: ContainerSpec, project: str, network: str, config_hash: str,
                options: CreateOptions | None = None) -> dict[str, Any]:
    """The docker-py `containers.create` keyword arguments for one compose service.

    Args:
        spec: the service's frozen spec.
        project: compose project name (the `com.docker.compose.project` label).
        network: the network to attach the container to at create time.
        config_hash: the `dev.neodev.config-hash` label value (see `config_hash`).
        options: caller-specific shaping (defaults: the dev environment's).

    Returns:
        A fresh dict: `image`, `labels`, `environment`, `ports`, `volumes`, `extra_hosts`,
        `network`, `restart_policy`, `detach`, and when set `name`, `mounts`, `healthcheck`,
        `command`, `entrypoint`, `user`, `working_dir`, `stop_signal`.
    """
    opts = options or CreateOptions()
    labels = {**spec.labels, **container_labels(project, spec.service, spec.name, config_hash),
              **opts.labels}
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "labels": labels,
        "environment": dict(spec.environment),
        "ports": port_bindings(spec.ports, random_loopback=opts.random_loopback_ports),
        "extra_hosts": dict(spec.extra_hosts),
        "network": network,
        "restart_policy": {"Name": "no"},
        "detach": True,
    }
    kwargs.update(_mounts(spec.volumes, opts))
    if opts.name is not None:
        kwargs["name"] = opts.name
    if spec.healthcheck is not None:
        kwargs["healthcheck"] = healthcheck_nanos(spec.healthcheck, opts.max_health_interval)
    if spec.command is not None:
        kwargs["command"] = list(spec.command)
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    for key in ("user", "working_dir", "stop_signal"):
        value = getattr(spec, key)
        if value is not None:
            kwargs[key] = value
    return kwargs


def port_bindings(ports: tuple[PortMapping, ...], random_loopback: bool = False
                  ) -> dict[str, PortBinding | list[PortBinding]]:
    """docker-py `ports=`: `"5432/tcp" -> ("127.0.0.1", 5432)`, a list when published twice.

    Args:
        ports: the spec's published ports.
        random_loopback: every port on 127.0.0.1 with a host port Docker picks (None).
    """
    grouped: dict[str, list[PortBinding]] = {}
    for p in ports:
        key = f"{p.container_port}/{p.protocol}"
        if random_loopback:
            grouped[key] = [(LOOPBACK, None)]  # once per container port is enough
        else:
            grouped.setdefault(key, []).append((p.host_ip, p.host_port or None))
    return {key: found[0] if len(found) == 1 else found for key, found in grouped.items()}


def healthcheck_nanos(hc: HealthcheckSpec, max_interval: float | None = None) -> dict[str, Any]:
    """A compose healthcheck in the form Docker takes: durations as integer nanoseconds.

    Args:
        hc: the healthcheck, durations in seconds.
        max_interval: cap on the interval; retries grow so that interval x retries (the time
            failures take to count as unhealthy) stays what the spec says.
    """
    interval, retries = hc.interval, hc.retries
    if max_interval is not None and 0 < max_interval < interval:
        retries = math.ceil(retries * interval / max_interval)
        interval = max_interval
    return {"test": list(hc.test), "interval": int(interval * NANOS),
            "timeout": int(hc.timeout * NANOS), "retries": retries,
            "start_period": int(hc.start_period * NANOS)}


def _mounts(volumes: tuple[VolumeMount, ...], opts: CreateOptions) -> dict[str, Any]:
    """`volumes` (bind strings) and, for throwaway named volumes, `mounts` (API mount dicts)."""
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    for v in volumes:
        if v.type == "volume" and opts.throwaway_volumes:
            # No Source: Docker creates an anonymous volume, labelled, removed with the
            # container. docker-py passes plain dicts through as API `Mounts`.
            mounts.append({"Type": "volume", "Target": v.target, "ReadOnly": v.read_only,
                           "VolumeOptions": {"Labels": dict(opts.labels)}})
        else:
            binds.append(f"{v.source}:{v.target}:{'ro' if v.read_only else 'rw'}")
    targets = {v.target for v in volumes}
    binds += [f"{name}:{target}:rw" for target, name in opts.inherited_volumes.items()
              if target not in targets]
    result: dict[str, Any] = {"volumes": binds}
    if mounts:
        result["mounts"] = mounts
    return result
