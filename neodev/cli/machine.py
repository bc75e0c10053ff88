"""`neodev config` and `neodev doctor`: the configuration and the machine, before any daemon.

Configuration modules (pydantic) are imported inside these commands only, so that `status`,
`logs` and `stop` start fast: they only talk to the daemon.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from neodev.cli.common import (
    PROFILE_OPTION,
    chosen_instance,
    main,
    profile_name,
    tell_generated,
    workspace,
)
from neodev.client import calls, find_daemon, load_validated
from neodev.client.sync import DaemonClient
from neodev.errors import NeodevError
from neodev.paths import WorkspacePaths

if TYPE_CHECKING:
    from neodev.config.model import EnvironmentPlan
    from neodev.doctor import Check


def load_plan(paths: WorkspacePaths, profile: str) -> EnvironmentPlan:
    """The validated plan as this workspace's instance (missing secrets generated, and said
    so); the instance is computed, not recorded: only a start records one."""
    plan, generated, secrets_file = load_validated(paths, profile, as_instance=True,
                                                   instance=chosen_instance(), record=False)
    tell_generated(generated, secrets_file)
    return plan


@main.command()
@PROFILE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
def config(profile: str | None, as_json: bool) -> None:
    """Print the resolved configuration model (secrets masked)."""
    from neodev.configstate import cached_config
    from neodev.instances.registry import identity_stamp

    paths, name = workspace(), profile_name(profile)

    def render() -> dict[str, Any]:
        import yaml

        from neodev.config.display import plan_for_display

        data = plan_for_display(load_plan(paths, name))
        return {"json": json.dumps(data, indent=2, default=str),
                "yaml": yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()}

    # Both forms are stored: a repeated run then needs neither pydantic nor a YAML emitter.
    extra = [chosen_instance(), identity_stamp(paths)]
    click.echo(cached_config(paths, name, os.environ, render, extra)["json" if as_json
                                                                       else "yaml"])


@main.command()
@PROFILE_OPTION
def doctor(profile: str | None) -> None:
    """Check the machine: Docker, images, ports, kubectl/kind, .env."""
    from neodev import doctor as checks

    paths = workspace()
    plan = None
    try:
        plan = load_plan(paths, profile_name(profile))
    except NeodevError as error:
        click.secho(f"fail  config     {error.message}", fg="red")
    results = checks.run_checks(plan, paths, dict(os.environ))
    results += _wiring(paths)
    click.echo(checks.format_checks(results))
    code = checks.exit_code(results)
    sys.exit(code if plan is not None else max(code, 2))


def _wiring(paths: WorkspacePaths) -> list[Check]:
    """The observability wiring, checked by the running daemon (nothing when none runs)."""
    from neodev.doctor import Check

    info = find_daemon(paths)
    if info is None:
        return [Check("wiring", "warn", "no environment running: metrics targets, Loki and "
                      "Grafana not checked", "start it with `neodev start`")]
    with DaemonClient(Path(info.socket)) as client:
        found = client.call(calls.wiring()).checks
    return [Check(f"wiring:{c.name}", c.status, c.detail) for c in found]
