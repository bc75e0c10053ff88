"""The daemon's side of instances: who it is, where the registry sees it, whether its
workspace still exists.

- `instance_info`: the instance's name and ports, for ping, status, the dashboard's header and
  the agent server;
- `registered`: while it runs, the machine's registry names its pid (so `neodev instances`
  finds it, even once its workspace is gone);
- `watch_workspace`: a workspace deleted under a running daemon (`git worktree remove
  --force`, `git clean -fdx`) leaves nobody able to reach it — its socket went with
  `.neodev/` — while its processes keep their ports. A cheap periodic look (one `stat` every
  few seconds, no busy loop) notices, and the daemon stops its units and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import psutil

from neodev.config.model import EnvironmentPlan
from neodev.errors import InstanceError
from neodev.instances.registry import Registry
from neodev.paths import WorkspacePaths
from neodev.protocol.documents import InstanceInfo, PortAssignment

log = logging.getLogger("neodev.daemon")

WORKSPACE_CHECK_INTERVAL = 3.0
"""Seconds between two looks at the workspace (a deleted one is noticed within this);
NEODEV_WORKSPACE_CHECK_SECONDS overrides it."""


def check_interval() -> float:
    try:
        return float(os.environ.get("NEODEV_WORKSPACE_CHECK_SECONDS") or WORKSPACE_CHECK_INTERVAL)
    except ValueError:
        return WORKSPACE_CHECK_INTERVAL


def instance_info(plan: EnvironmentPlan) -> InstanceInfo:
    """The instance's name and every declared host port with the one it uses."""
    declared_of = {host: declared for declared, host in plan.port_map.items()}
    ports: list[PortAssignment] = []
    for name, container in plan.containers.items():
        ports += [PortAssignment(name, declared_of.get(p.host_port, p.host_port), p.host_port)
                  for p in container.ports if p.host_port is not None]
    for name, proc in plan.processes.items():
        own = ([proc.port] if proc.port is not None else []) + list(proc.extra_ports)
        ports += [PortAssignment(name, declared_of.get(port, port), port) for port in own]
    return InstanceInfo(name=plan.project, workspace=str(plan.workspace),
                        profile_ports=plan.profile_ports, port_block=plan.port_block,
                        ports=tuple(ports))


@contextlib.asynccontextmanager
async def registered(paths: WorkspacePaths, plan: EnvironmentPlan, active: bool
                     ) -> AsyncIterator[None]:
    """The registry names this daemon as the instance's while it runs (not for `active`
    False: a teardown daemon runs no instance)."""
    registry = Registry.of_machine()
    workspace = os.path.realpath(paths.root)
    me = psutil.Process()
    if active:
        await asyncio.to_thread(_say_daemon, registry, plan.project, workspace, me.pid,
                                me.create_time())
    try:
        yield
    finally:
        if active:
            await asyncio.to_thread(_say_daemon, registry, plan.project, workspace, None, None)


def _say_daemon(registry: Registry, name: str, workspace: str, pid: int | None,
                started: float | None) -> None:
    try:
        registry.update_daemon(name, workspace, pid, started)
    except InstanceError as exc:  # the registry is a convenience: the daemon runs anyway
        log.warning("%s", exc.message)


def workspace_identity(paths: WorkspacePaths) -> tuple[int, int] | None:
    """(device, inode) of the workspace's `.neodev/`, None when it is gone."""
    try:
        info = os.stat(paths.state_dir)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def workspace_gone(paths: WorkspacePaths, identity: tuple[int, int] | None) -> str | None:
    """Why the daemon's workspace is no longer its own, or None while it is."""
    if not paths.root.is_dir():
        return f"the workspace {paths.root} was deleted"
    now = workspace_identity(paths)
    if now is None or now != identity:
        return f"{paths.state_dir} was deleted"
    if not paths.socket.exists():
        return f"the control socket {paths.socket} was deleted"
    return None


async def watch_workspace(paths: WorkspacePaths, on_gone: Callable[[str], Awaitable[None]],
                          interval: float | None = None,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Look at the workspace every `interval` seconds (default: `check_interval()`); once it
    is gone, `await on_gone(why)` and return. Start it once the socket is bound."""
    interval = check_interval() if interval is None else interval
    identity = workspace_identity(paths)
    while True:
        await sleep(interval)
        why = workspace_gone(paths, identity)  # a few stats: cheaper than a thread hop
        if why is not None:
            log.warning("%s: stopping every unit and exiting", why)
            await on_gone(why)
            return
