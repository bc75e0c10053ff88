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
from typing import Any, Literal

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

CreateKwargs = dict[str, Any]
"""Keyword arguments of the docker SDK's `containers.create` (and the parts of them built here):
the SDK takes them untyped, so they are as well."""


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
    throwaway_volumes: Literal["tmpfs", "anonymous"] | None = None
    """Replace the spec's named volumes, so a test's data never touches the developer's:
    `tmpfs` mounts them in memory (fast — on slow disks a database clone costs 20x less —,
    nothing on disk, gone with the container); `anonymous` makes anonymous volumes that carry
    `labels` and are removed with the container (`remove(v=True)`), found by label after a
    crash — for data bigger than memory. None keeps them. Bind mounts always stay.

    A tmpfs belongs to root (Docker 20.10 ignores `mode=` on an image directory), so it is
    used only when the container runs as root (Postgres: its entrypoint hands the data
    directory to `postgres`) or as a numeric uid (the tmpfs is given to it); a container
    that runs as a user *name* (Prometheus: `nobody`) gets an anonymous volume instead."""
    image_user: str = ""
    """The image's `Config.User` (the spec's `user` wins), for the tmpfs decision above."""
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
                options: CreateOptions | None = None) -> CreateKwargs:
    """The docker-py `containers.create` keyword arguments for one compose service.

    Args:
        spec: the service's frozen spec.
        project: compose project name (the `com.docker.compose.project` label).
        network: the network to attach the container to at create time.
        config_hash: the `dev.neodev.config-hash` label value (see `config_hash`).
        options: caller-specific shaping (defaults: the dev environment's).

    Returns:
        A fresh dict: `image`, `labels`, `environment`, `ports`, `volumes`, `extra_hosts`,
        `network`, `restart_policy`, `detach`, and when set `name`, `mounts`, `tmpfs`,
        `healthcheck`, `command`, `entrypoint`, `user`, `working_dir`, `stop_signal`.
    """
    opts = options or CreateOptions()
    compose_file = str(spec.compose_file) if spec.compose_file else None
    depends = [(d.service, d.condition.value) for d in spec.depends_on]
    labels = {**spec.labels,
              **container_labels(project, spec.service, spec.name, config_hash,
                                 compose_file=compose_file, depends_on=depends),
              **opts.labels}
    kwargs: CreateKwargs = {
        "image": spec.image,
        "labels": labels,
        "environment": dict(spec.environment),
        "ports": port_bindings(spec.ports, random_loopback=opts.random_loopback_ports),
        "extra_hosts": dict(spec.extra_hosts),
        "network": network,
        "restart_policy": {"Name": "no"},
        "detach": True,
    }
    kwargs.update(_mounts(spec.volumes, opts, spec.user or opts.image_user))
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


def healthcheck_nanos(hc: HealthcheckSpec, max_interval: float | None = None) -> CreateKwargs:
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


def tmpfs_owner(user: str) -> str | None:
    """Docker tmpfs options that let `user` (an image/compose `user:` value) write the tmpfs.

    Returns:
        "" for root, "uid=N,gid=M" for a numeric user, None when the user is a name (its uid
        is only known inside the image).
    """
    name, _, group = user.partition(":")
    if name in ("", "root", "0") and group in ("", "root", "0"):
        return ""
    if name.isdigit() and (not group or group.isdigit()):
        return f"uid={name},gid={group or name}"
    return None


def _mounts(volumes: tuple[VolumeMount, ...], opts: CreateOptions, user: str
            ) -> CreateKwargs:
    """`volumes` (bind strings) and, for throwaway named volumes, `mounts` or `tmpfs`."""
    binds: list[str] = []
    mounts: list[CreateKwargs] = []
    tmpfs: dict[str, str] = {}
    owner = tmpfs_owner(user) if opts.throwaway_volumes == "tmpfs" else None
    for v in volumes:
        if v.type == "volume" and owner is not None:
            tmpfs[v.target] = ",".join(filter(None, ["ro" if v.read_only else "rw", owner]))
        elif v.type == "volume" and opts.throwaway_volumes is not None:
            # No Source: Docker creates an anonymous volume, labelled, removed with the
            # container. docker-py passes plain dicts through as API `Mounts`.
            mounts.append({"Type": "volume", "Target": v.target, "ReadOnly": v.read_only,
                           "VolumeOptions": {"Labels": dict(opts.labels)}})
        else:
            binds.append(f"{v.source}:{v.target}:{'ro' if v.read_only else 'rw'}")
    targets = {v.target for v in volumes}
    binds += [f"{name}:{target}:rw" for target, name in opts.inherited_volumes.items()
              if target not in targets]
    result: CreateKwargs = {"volumes": binds}
    if mounts:
        result["mounts"] = mounts
    if tmpfs:
        result["tmpfs"] = tmpfs
    return result
