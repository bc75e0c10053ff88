"""`neodev mcp`: the agent server (Model Context Protocol over stdio) for coding agents.

The server itself is `neodev.mcp`; this command only chooses its scope and mode. The MCP SDK
is imported here, inside the command, and nowhere else in the CLI: the short commands keep
their import budget (`tests/unit/test_import_budget.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from neodev.cli.common import PROFILE_OPTION, main, profile_name, workspace
from neodev.errors import ConfigError
from neodev.paths import WorkspacePaths


@main.command()
@PROFILE_OPTION
@click.option("--read-only", is_flag=True,
              help="Offer only the tools that change nothing (status, logs, wait, details...).")
@click.option("--print-config", is_flag=True,
              help="Print the `.mcp.json` snippet an MCP client reads to start this server, "
              "and exit.")
@click.option("--serve-instance", "serve_instance", default=None, metavar="NAME",
              help="Serve the instance NAME of this machine (`neodev instances` lists them) "
                   "instead of this workspace's.")
def mcp(profile: str | None, read_only: bool, print_config: bool,
        serve_instance: str | None) -> None:
    """Serve this workspace's environment to a coding agent over MCP (stdio).

    Started by the MCP client (see `--print-config`), not by hand. It reaches only this
    workspace's environment (or the instance `--serve-instance` names), masks every secret in
    what it returns, and starts the daemon only when the agent calls `start`.
    """
    paths = _instance_paths(serve_instance) if serve_instance else workspace()
    if print_config:
        from neodev.mcp.setup import client_config

        click.echo(json.dumps(client_config(paths, profile=profile, read_only=read_only),
                              indent=2))
        return
    from neodev.mcp.scope import Scope
    from neodev.mcp.server import serve

    serve(Scope.of_workspace(profile_name(profile), paths), read_only=read_only)


def _instance_paths(name: str) -> WorkspacePaths:
    """The workspace of the registered instance `name`.

    Raises:
        ConfigError: no instance of this machine has that name (the known ones are listed).
    """
    from neodev.instances.registry import Registry

    registry = Registry.of_machine()
    record = registry.get(name)
    if record is None:
        known = ", ".join(sorted(r.name for r in registry.entries())) or "none yet"
        raise ConfigError(f"--serve-instance {name!r}: no instance of this machine has that "
                          f"name (known: {known}; `neodev instances` lists them)")
    if not record.exists:
        raise ConfigError(f"--serve-instance {name!r}: its workspace {record.workspace} no "
                          "longer exists (`neodev instances prune` removes what it left)")
    return WorkspacePaths(Path(record.workspace))
