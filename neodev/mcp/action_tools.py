"""The tools that change the environment: start, stop, restart, reload, snapshots, down.

Plain async functions over the `AgentContext`, like the read tools (`read_tools.py`); the
registry gives each its MCP annotations (destructive, idempotent). `start` is the only tool
that starts a daemon. The two that destroy data — restoring a snapshot over the database, and
`down` with volumes — refuse unless called with `confirm=true`, and the refusal says exactly
what would be lost, so the agent can ask the person first.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from neodev.client import DaemonInfo, calls, wait_for_exit
from neodev.errors import DaemonError, NeodevError, RequestError
from neodev.mcp.context import AgentContext
from neodev.mcp.read_tools import ServiceName, Unit, Units
from neodev.mcp.results import StartReport
from neodev.protocol.db import SnapshotRestored, SnapshotTaken
from neodev.protocol.documents import DownReport
from neodev.protocol.units import ActResult, Stopped

EXIT_TIMEOUT = 60.0
"""Seconds a daemon told to end may take before `stop`/`down` report it still there."""

SnapshotName = Annotated[str, Field(
    min_length=1, max_length=64,
    description="Snapshot name: letters, digits, `-` and `_` (as `db_list_snapshots` shows).")]
Force = Annotated[bool, Field(
    description="Disconnect database sessions neodev does not manage (a psql, an IDE) "
    "instead of refusing and naming them.")]
Confirm = Annotated[bool, Field(
    description="Set to true only once the person agreed to lose the data named in the "
    "refusal; without it nothing is changed.")]


async def start(ctx: AgentContext, units: Units = None) -> StartReport:
    """Start the environment, or the named units and what they depend on, in the background
    (a daemon is started for this workspace if none runs; the profile is checked first).
    Returns at once: call `wait_ready` to know when they are ready."""
    launched = await ctx.spawn()
    try:
        started = await ctx.daemon.call(calls.start(units))
    except NeodevError:
        if launched.fresh:  # a daemon started only for this call ends with it
            await _shut_down(ctx)
        raise
    return StartReport(
        started=started.started, spawned=launched.fresh, warnings=launched.warnings,
        generated_secrets=launched.generated,
        secrets_file=str(launched.secrets_file) if launched.generated else None)


async def stop(ctx: AgentContext, units: Units = None) -> Stopped:
    """Stop the named units (what depends on them first), or, with none named, every unit and
    the daemon, as `neodev stop` does. Nothing is removed: `start` brings them back."""
    client = await ctx.client()
    if units:
        return await client.call(calls.stop(units))
    return await _shut_down(ctx)


async def restart_unit(ctx: AgentContext, unit: Unit) -> ActResult:
    """Restart one unit now (no backoff); answers its status record afterwards."""
    return await (await ctx.client()).call(calls.act(unit, "restart"))


async def reload_unit(ctx: AgentContext, unit: Unit) -> ActResult:
    """Reload one unit now, as a file change would: its build step (if any), then a restart.
    A failed build keeps the running process; the answer's `last_reload` says which."""
    return await (await ctx.client()).call(calls.act(unit, "reload"))


async def db_take_snapshot(ctx: AgentContext, name: SnapshotName,
                           service: ServiceName = None, force: Force = False) -> SnapshotTaken:
    """Snapshot the dev database under `name` (a copy on the same server, in seconds). The
    units that depend on Postgres are stopped for the copy and started again."""
    return await (await ctx.client()).call(calls.take_snapshot(name, service, force))


async def db_restore_snapshot(ctx: AgentContext, name: SnapshotName, confirm: Confirm = False,
                              service: ServiceName = None, force: Force = False
                              ) -> SnapshotRestored:
    """Put snapshot `name` back in place of the dev database. Destructive: the database's
    current contents are replaced (kept as an automatic `before-restore-...` snapshot, of
    which the newest three are kept). Refuses unless `confirm` is true."""
    client = await ctx.client()
    if not confirm:
        listing = await client.call(calls.snapshots(service))
        found = next((s for s in listing.snapshots if s.name == name), None)
        what = (f"replaces the current contents of database {found.database!r} on "
                f"{found.server} with snapshot {name!r}" if found else
                f"would restore snapshot {name!r}, which does not exist (db_list_snapshots "
                "lists them)")
        raise RequestError(f"restoring {what}. Nothing was changed: call again with "
                           "confirm=true once the person agreed.", param="confirm")
    return await client.call(calls.restore_snapshot(name, service, force))


async def down(ctx: AgentContext,
               volumes: Annotated[bool, Field(
                   description="Also delete the named volumes: every database row and "
                   "stored file. Needs confirm=true.")] = False,
               confirm: Confirm = False) -> DownReport:
    """Stop everything and remove the containers and the network of this workspace's
    environment, then end its daemon; the data volumes are kept unless `volumes` is true
    (which refuses unless `confirm` is true). Answers what was removed, by name."""
    client = await ctx.client()
    if volumes and not confirm:
        named = (await client.call(calls.status())).volumes
        data = f"the volumes {', '.join(named)} with all their data, and " if named else ""
        raise RequestError(
            f"down with volumes deletes {data}the anonymous volumes of the removed "
            "containers. Nothing was changed: call again with confirm=true once the person "
            "agreed, or without volumes to keep the data.", param="confirm")
    info = ctx.running()
    report = await client.call(calls.down(volumes))
    if info is not None:
        await _wait_for_exit(info)
    return report


async def _shut_down(ctx: AgentContext) -> Stopped:
    """Stop every unit and end the daemon; return once it is gone."""
    info = ctx.running()
    stopped = await ctx.daemon.call(calls.shutdown())
    if info is not None:
        await _wait_for_exit(info)
    return stopped


async def _wait_for_exit(info: DaemonInfo) -> None:
    """Return once the daemon is gone, so the next call never meets a dying one."""
    if not await asyncio.to_thread(wait_for_exit, info, None, EXIT_TIMEOUT):
        raise DaemonError(f"the daemon (pid {info.pid}) did not exit within "
                          f"{EXIT_TIMEOUT:.0f} s after stopping its units")
