"""What every command shares: the `neodev` group, the workspace, errors and exit codes.

Exit codes (also in the README):
  0 ok · 1 unexpected failure · 2 configuration error (nothing started), or a file that is not
  a report · 3 Docker error or host port taken · 4 process error · 5 cluster error · 6 daemon
  not running / unreachable · 8 database refused (`db`: in use, name taken) · 1 `doctor` found
  a failing check.
  `start --wait` whose verdict fails, by kind (`neodev.errors.WAIT_EXIT_CODES`; the most
  specific kind when units fail for different reasons): 7 a unit could not start (other
  cause) or is held back by an optional one · 9 timeout · 10 a unit exited · 11 crash loop ·
  12 unhealthy (its probe keeps failing) · 13 image missing · 14 host port taken.

The CLI never touches Docker or processes: units are reached through the daemon, with the
client package (`neodev.client`) only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from neodev import __version__
from neodev.client import (
    DaemonClient,
    DaemonInfo,
    Launched,
    calls,
    ensure_daemon,
    read_info,
    wait_for_exit,
)
from neodev.errors import DaemonError, NeodevError
from neodev.paths import WorkspacePaths, find_workspace
from neodev.protocol.codec import encode

PROFILE_OPTION = click.option("--profile", "-p", default=None,
                              help="Profile name in profiles/ (default: $NEODEV_PROFILE or local).")


def chosen_instance() -> str | None:
    """`neodev --instance NAME ...`: this workspace's instance name, as asked on the command
    line (None: NEODEV_INSTANCE, COMPOSE_PROJECT_NAME, the recorded name or a new one)."""
    context = click.get_current_context(silent=True)
    if context is None:
        return None
    value = context.find_root().params.get("instance")
    return value if isinstance(value, str) and value else None


def profile_name(profile: str | None) -> str:
    return profile or os.environ.get("NEODEV_PROFILE") or "local"


def workspace() -> WorkspacePaths:
    return WorkspacePaths(find_workspace())


def fail(error: NeodevError) -> NoReturn:
    """Print a NeodevError as `Title: message` on stderr and exit with its code."""
    click.secho(f"{error.title}: ", fg="red", bold=True, err=True, nl=False)
    click.echo(error.message, err=True)
    sys.exit(error.exit_code)


def tell_generated(generated: tuple[str, ...] | list[str], secrets_file: object) -> None:
    if generated:
        click.echo(f"generated {', '.join(generated)} into {secrets_file} (never tracked; set "
                   "them in .env to choose your own)", err=True)


def tell(launched: Launched) -> None:
    """What the person should know about a daemon just spawned: warnings, generated secrets."""
    for warning in launched.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    tell_generated(launched.generated, launched.secrets_file)


def daemon_client(paths: WorkspacePaths, profile: str, validate: bool = False
                  ) -> tuple[DaemonClient, bool]:
    """The running daemon's client (spawning one first if needed), and whether it is new."""
    launched = ensure_daemon(paths, profile, validate=validate, instance=chosen_instance())
    tell(launched)
    return DaemonClient(launched.socket), launched.fresh


def wait_for_daemon_exit(info: DaemonInfo) -> None:
    """Return only once the daemon is gone, so the next command never meets a dying one."""
    if not wait_for_exit(info, timeout=60):
        raise DaemonError(f"the daemon (pid {info.pid}) did not exit within 60 s after "
                          "stopping its units; see .neodev/daemon.log")


def shutdown_spawned(paths: WorkspacePaths, client: DaemonClient) -> None:
    """End a daemon this command spawned only for itself."""
    info = read_info(paths)
    client.call(calls.shutdown())
    if info is not None:
        wait_for_daemon_exit(info)


def echo_result(record: Any, as_json: bool, text: Callable[[], str]) -> None:
    """A command's result: as indented JSON with `--json`, else as the text for people."""
    click.echo(json.dumps(encode(record), indent=2) if as_json else text())


COMMAND_MODULES = {
    "start": "units", "stop": "units", "restart": "units", "reload": "units", "down": "units",
    "status": "units", "logs": "units", "open": "units",
    "db": "db", "cluster": "cluster", "instances": "instances",
    "config": "machine", "doctor": "machine",
    "report": "report", "open-report": "report", "mcp": "agents",
}
"""Each command and the module of `neodev.cli` that defines it: a command imports its own
module only (a short command answers in milliseconds, and each module costs some)."""


class NeodevGroup(click.Group):
    """The `neodev` group: its commands' modules imported when a command is looked up, and
    every NeodevError turned into `Title: message` and its exit code, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"neodev.cli.{module}")  # registers it on `main`
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NeodevError as error:
            fail(error)


@click.group(cls=NeodevGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="neodev")
@click.option("--instance", default=None, metavar="NAME",
              help="This workspace's instance name (default: $NEODEV_INSTANCE, "
                   "$COMPOSE_PROJECT_NAME, the recorded one, or one derived from the "
                   "directory). Each checkout is its own instance: containers, data, ports.")
@click.pass_context
def main(ctx: click.Context, instance: str | None) -> None:
    """neodev: the NeoTool local development environment in one tool."""
    if ctx.invoked_subcommand is None:
        # `neodev` on a terminal opens the dashboard (neodev.entry); here stdin or stdout is
        # not a terminal (a script, a pipe): say what there is instead.
        click.echo(ctx.get_help())
        click.echo("\n`neodev` alone opens the dashboard in a terminal; in scripts use "
                   "`neodev start --wait`, `neodev status --json`, `neodev logs`.")
