"""`neodev db`: snapshots of the dev database — take, list, restore, drop (seconds, not dumps)."""

from __future__ import annotations

import json

import click

from neodev.cli.common import echo_result, main, workspace
from neodev.cli.render import format_snapshot_outcome, format_snapshots
from neodev.client import calls, running_client
from neodev.protocol.codec import encode


@main.group()
def db() -> None:
    """Snapshots of the dev database: take, list, restore, drop (seconds, not dumps).

    A snapshot is a template copy on the same Postgres server. The units that use the
    database are stopped for the copy and started again; `restore` keeps the data it replaces
    as an automatic snapshot first.
    """


SERVICE_OPTION = click.option("--service", default=None,
                              help="The Postgres unit (default: the profile's only one).")
FORCE_OPTION = click.option("--force", is_flag=True,
                            help="Disconnect sessions neodev does not manage (a psql, an IDE) "
                                 "instead of refusing.")
DB_JSON = click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")


@db.command("snapshot")
@click.argument("name")
@SERVICE_OPTION
@FORCE_OPTION
@DB_JSON
def db_snapshot(name: str, service: str | None, force: bool, as_json: bool) -> None:
    """Snapshot the dev database as NAME."""
    with running_client(workspace()) as client:
        outcome = client.call(calls.take_snapshot(name, service, force))
    echo_result(outcome, as_json, lambda: format_snapshot_outcome(outcome))


@db.command("restore")
@click.argument("name")
@SERVICE_OPTION
@FORCE_OPTION
@DB_JSON
def db_restore(name: str, service: str | None, force: bool, as_json: bool) -> None:
    """Put snapshot NAME back (the current data becomes a `before-restore-…` snapshot)."""
    with running_client(workspace()) as client:
        outcome = client.call(calls.restore_snapshot(name, service, force))
    echo_result(outcome, as_json, lambda: format_snapshot_outcome(outcome))


@db.command("list")
@SERVICE_OPTION
@DB_JSON
def db_list(service: str | None, as_json: bool) -> None:
    """The snapshots on the dev Postgres, oldest first."""
    with running_client(workspace()) as client:
        snapshots = client.call(calls.snapshots(service)).snapshots
    if as_json:
        click.echo(json.dumps(encode(snapshots), indent=2))
    else:
        click.echo(format_snapshots(snapshots))


@db.command("drop")
@click.argument("name")
@SERVICE_OPTION
def db_drop(name: str, service: str | None) -> None:
    """Delete snapshot NAME."""
    with running_client(workspace()) as client:
        client.call(calls.drop_snapshot(name, service))
    click.echo(f"dropped snapshot {name}")
