"""Every instance on this machine, and what `neodev instances prune` removes.

No single daemon can answer this: the instances are the machine's registry
(`neodev.instances.registry`) and what carries their labels on the engine, and an orphaned one
(its workspace deleted, or the workspace's `.neodev/` with it) has a daemon nobody can reach
any more — its socket went with the directory. So, like `doctor`, this looks at the machine
itself: the registry, the engine (containers, networks and volumes by the `dev.neodev.instance`
and `dev.neodev.workspace` labels; a Postgres container's database sizes through its own
psql; memory from one stats sample each) and the daemons' process trees. What the running
daemons know (ports, URLs) the CLI adds by asking them.

Prune removes, for an orphaned instance only: its daemon (SIGTERM: it stops its units and
exits; its whole process tree is killed if it does not within the grace), its containers,
network and volumes — only those labelled with its deleted workspace — and its registry entry.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import psutil

from neodev import pgsql
from neodev.docker.labels import NEODEV_INSTANCE, NEODEV_WORKSPACE
from neodev.instances.registry import InstanceRecord, Registry, state_of
from neodev.paths import WorkspacePaths
from neodev.process.tree import is_alive, kill_tree, snapshot, wait_gone
from neodev.protocol.documents import InstanceState, InstanceSummary
from neodev.rendezvous import read_info

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

DAEMON_GRACE = 60.0
"""Seconds an orphaned daemon gets to stop its units after SIGTERM before its tree is killed."""


@dataclass
class _OnEngine:
    """What carries one instance's labels on the engine."""

    containers: list[Container] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


Engine: TypeAlias = "DockerClient"
"""A docker client (the SDK's)."""
Key = tuple[str, str]
"""(instance name, workspace real path)."""


def engine() -> DockerClient | None:
    """A docker client, or None when no engine answers (then only the registry and the
    daemons are looked at)."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    from neodev.docker.client import connect_from_env

    try:
        return connect_from_env()
    except (DockerException, RequestException):
        return None


def survey(registry: Registry, client: DockerClient | None) -> list[InstanceSummary]:
    """Every instance of the registry and of the engine's labels, by name (blocking).

    Args:
        registry: The machine's registry.
        client: A docker client; None when the engine is unreachable (then only the registry
            and the daemons are looked at).
    """
    records = {(r.name, r.workspace): r for r in registry.entries()}
    engine = _on_engine(client) if client is not None else {}
    found = []
    for key in sorted(set(records) | set(engine)):
        record = records.get(key) or InstanceRecord(name=key[0], workspace=key[1])
        found.append(_summary(record, engine.get(key, _OnEngine())))
    return found


def orphaned(summaries: Iterable[InstanceSummary]) -> list[InstanceSummary]:
    return [s for s in summaries if s.state == "orphaned"]


def _summary(record: InstanceRecord, on_engine: _OnEngine) -> InstanceSummary:
    state = state_of(record)
    pid = _daemon_pid(record, state)
    running = [c for c in on_engine.containers if c.status == "running"]
    memory = None
    if pid is not None or running:
        memory = _tree_memory(pid) + sum(container_memory(c) for c in running)
    sizes = [size for c in running if (size := database_bytes(c)) is not None]
    return InstanceSummary(
        name=record.name, workspace=record.workspace, state=state, profile=record.profile,
        profile_ports=record.profile_ports, port_block=record.port_block,
        database_bytes=sum(sizes) if sizes else None, memory_bytes=memory, daemon_pid=pid,
        containers=tuple(sorted(c.name for c in on_engine.containers)),
        networks=tuple(sorted(on_engine.networks)), volumes=tuple(sorted(on_engine.volumes)))


def _daemon_pid(record: InstanceRecord, state: InstanceState) -> int | None:
    """The pid of the daemon running the instance, when one does."""
    if record.daemon_pid is not None and record.daemon_started is not None and \
            is_alive(record.daemon_pid, record.daemon_started):
        return record.daemon_pid
    if state == "running":
        info = read_info(WorkspacePaths(Path(record.workspace)))
        return info.pid if info is not None else None
    return None


def _on_engine(client: DockerClient) -> dict[Key, _OnEngine]:
    found: dict[Key, _OnEngine] = {}

    def entry(labels: dict[str, str] | None) -> _OnEngine | None:
        labels = labels or {}
        if NEODEV_INSTANCE not in labels or NEODEV_WORKSPACE not in labels:
            return None
        return found.setdefault((labels[NEODEV_INSTANCE], labels[NEODEV_WORKSPACE]),
                                _OnEngine())

    # every instance's containers: any of them may be removed by its own `down` meanwhile
    for c in client.containers.list(all=True, filters={"label": NEODEV_INSTANCE},
                                    ignore_removed=True):
        if (place := entry(c.labels)) is not None:
            place.containers.append(c)
    for n in client.networks.list(filters={"label": NEODEV_INSTANCE}):
        if (place := entry(n.attrs.get("Labels"))) is not None:
            place.networks.append(n.name)
    for v in client.volumes.list(filters={"label": NEODEV_INSTANCE}):
        if (place := entry(v.attrs.get("Labels"))) is not None:
            place.volumes.append(v.name)
    return found


def _tree_memory(pid: int | None) -> int:
    """RSS of a process and its descendants (the daemon and its processes)."""
    total = 0
    for proc in snapshot(pid) if pid is not None else []:
        with contextlib.suppress(psutil.Error):  # gone or hidden meanwhile: not counted
            total += proc.memory_info().rss
    return total


def container_memory(container: Container) -> int:
    """A running container's memory without page cache, from one immediate stats sample."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    from neodev.docker.stats import stats_from_sample

    try:
        sample = container.stats(stream=False, one_shot=True)
    except (DockerException, RequestException):  # gone meanwhile: not counted
        return 0
    stats = stats_from_sample(sample)
    return stats.memory_bytes if stats is not None and stats.memory_bytes else 0


def database_bytes(container: Container) -> int | None:
    """The sizes of a Postgres container's databases summed (its own psql), None when it is
    not a Postgres server or does not answer (also when it stopped or went since it was listed:
    another instance's `stop` or `down` runs at any time)."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    from neodev.docker.branch import container_env
    from neodev.docker.psql import psql
    from neodev.errors import DatabaseError

    env = container_env(container)
    if "POSTGRES_PASSWORD" not in env and "POSTGRES_USER" not in env:
        return None
    try:
        rows = psql(container, env.get("POSTGRES_USER") or "postgres",
                    env.get("POSTGRES_PASSWORD", ""), [pgsql.list_databases(sizes=True)])
    except (DatabaseError, DockerException, RequestException):
        return None
    return sum(int(row[1]) for row in rows if len(row) > 1 and row[1].isdigit())


def prune_one(summary: InstanceSummary, registry: Registry, client: DockerClient | None
              ) -> list[str]:
    """Remove an orphaned instance: daemon, containers, network, volumes, registry entry.

    Returns:
        What was removed, by kind and name.
    """
    removed: list[str] = []
    if summary.daemon_pid is not None:
        removed += stop_daemon(summary.daemon_pid)
    if client is not None:
        removed += _remove_on_engine(client, summary)
    with registry.locked():
        entry = registry.get(summary.name)
        if entry is not None and entry.workspace == summary.workspace:
            registry.remove(summary.name)
            removed.append(f"registry entry {summary.name}")
    return removed


def stop_daemon(pid: int, grace: float = DAEMON_GRACE) -> list[str]:
    """SIGTERM a daemon (it stops its units and exits); its whole tree is killed if it is
    still there after `grace` seconds."""
    tree = snapshot(pid)
    if not tree:
        return []
    with contextlib.suppress(psutil.Error):  # psutil checks it is the same process
        tree[0].send_signal(signal.SIGTERM)
    if wait_gone(tree[:1], grace):
        kill_tree(None, snapshot(pid) or tree, grace=5.0)
    return [f"daemon pid {pid} (and the processes it ran)"]


def _remove_on_engine(client: DockerClient, summary: InstanceSummary) -> list[str]:
    from docker.errors import APIError, NotFound

    removed: list[str] = []
    labels = [f"{NEODEV_INSTANCE}={summary.name}", f"{NEODEV_WORKSPACE}={summary.workspace}"]
    for c in client.containers.list(all=True, filters={"label": labels}, ignore_removed=True):
        with contextlib.suppress(NotFound):
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
    for n in client.networks.list(filters={"label": labels}):
        with contextlib.suppress(NotFound, APIError):
            n.remove()
            removed.append(f"network {n.name}")
    for v in client.volumes.list(filters={"label": labels}):
        with contextlib.suppress(NotFound):
            v.remove(force=True)
            removed.append(f"volume {v.name}")
    return removed
