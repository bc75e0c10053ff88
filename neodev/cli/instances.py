"""`neodev instances [--json]` and `neodev instances prune [--yes]`: every instance of this
machine, and the removal of what belongs to workspaces that no longer exist.

What is listed is `neodev.overview`'s (the agent server lists the same); prune removes through
`neodev.inventory`, the one place a frontend looks beyond its own daemon (a named exception of
the import contracts, like `doctor`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from neodev.cli.common import main
from neodev.instances.registry import Registry
from neodev.overview import NO_ENGINE, engine, machine_instances
from neodev.present import format_bytes
from neodev.protocol.codec import encode
from neodev.protocol.documents import InstanceSummary

if TYPE_CHECKING:
    from neodev.inventory import Engine

# `neodev.inventory` (psutil, the docker SDK) is imported by these commands only, inside them:
# the short commands of the CLI do not pay for it.


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.pass_context
def instances(ctx: click.Context, as_json: bool) -> None:
    """Every instance (checkout, worktree) on this machine: state, ports, URLs, database size,
    memory. `neodev instances prune` removes what deleted workspaces left."""
    if ctx.invoked_subcommand is not None:
        return
    found = machine_instances(client=_engine())
    if as_json:
        click.echo(json.dumps({"instances": encode(tuple(found))}, indent=2))
    else:
        click.echo(format_instances(found))


@instances.command("prune")
@click.option("--yes", is_flag=True, help="Do not ask (for scripts).")
def prune(yes: bool) -> None:
    """Remove what belongs to workspaces that no longer exist: their daemons (and the
    processes they run), containers, networks, volumes and registry entries."""
    from neodev import inventory

    registry = Registry.of_machine()
    client = _engine()
    gone = inventory.orphaned(inventory.survey(registry, client))
    if not gone:
        click.echo("nothing to prune: every instance's workspace exists")
        return
    click.echo("these instances' workspaces no longer exist; removing:")
    for summary in gone:
        click.echo(f"  {summary.name} ({summary.workspace}): {_belongings(summary)}")
    if not yes and not click.confirm("remove them (their data too)?", default=False):
        click.echo("nothing removed")
        return
    for summary in gone:
        for what in inventory.prune_one(summary, registry, client):
            click.echo(f"removed {what}")


def _engine() -> Engine | None:
    client = engine()
    if client is None:
        click.secho(f"warning: {NO_ENGINE}", fg="yellow", err=True)
    return client


def _belongings(summary: InstanceSummary) -> str:
    parts = []
    if summary.daemon_pid is not None:
        parts.append(f"daemon pid {summary.daemon_pid} and its processes")
    parts += [f"container {c}" for c in summary.containers]
    parts += [f"network {n}" for n in summary.networks]
    parts += [f"volume {v}" for v in summary.volumes]
    return ", ".join([*parts, "its registry entry"])


def format_instances(found: list[InstanceSummary]) -> str:
    if not found:
        return "no instances on this machine yet (`neodev start` in a checkout makes one)"
    rows = [("NAME", "STATE", "PORTS", "DATABASE", "MEMORY", "WORKSPACE")]
    for s in found:
        rows.append((s.name, s.state, _ports(s), format_bytes(s.database_bytes),
                     format_bytes(s.memory_bytes), s.workspace))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    for s in found:
        if s.urls:
            lines.append(f"  {s.name}: " + " · ".join(f"{k} {v}" for k, v in s.urls.items()))
        if s.state == "orphaned":
            alive = f"; its daemon (pid {s.daemon_pid}) still runs" if s.daemon_pid else ""
            lines.append(f"  {s.name}: workspace deleted{alive} (`neodev instances prune`)")
    return "\n".join(lines)


def _ports(s: InstanceSummary) -> str:
    if s.profile_ports:
        return "profile's"
    hosts = [p.host for p in s.ports]
    if hosts:
        return f"{min(hosts)}-{max(hosts)}"
    return f"{s.port_block}+" if s.port_block is not None else "block to come"
