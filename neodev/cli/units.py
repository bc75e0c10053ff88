"""The commands on the environment's units: start, stop, restart, reload, down, status, logs,
open."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from neodev.cli.common import (
    PROFILE_OPTION,
    chosen_instance,
    daemon_client,
    echo_result,
    main,
    profile_name,
    shutdown_spawned,
    wait_for_daemon_exit,
    workspace,
)
from neodev.cli.render import (
    format_branched,
    format_down,
    format_log_line,
    format_status,
    format_verdicts,
    parse_since,
)
from neodev.cli.waiting import port_conflict_result, startup_failed, wait_showing_logs
from neodev.client import (
    DaemonClient,
    calls,
    ensure_daemon,
    find_daemon,
    last_project,
    read_info,
    running_client,
    teardown_daemon,
    wait_for_exit,
)
from neodev.errors import (
    ConfigError,
    DaemonError,
    NeodevError,
    PortConflictError,
    ProcessError,
    UnitStateError,
    UnknownUnitError,
)
from neodev.paths import WorkspacePaths
from neodev.present import format_instance, format_port_moves, reload_failed, reload_summary
from neodev.protocol.codec import encode
from neodev.protocol.documents import Status
from neodev.protocol.logs import LogGap, LogRecord

PAGE = 5_000
"""Lines asked for per request when printing retained logs."""


@main.command()
@PROFILE_OPTION
@click.option("--wait", is_flag=True,
              help="Return once every unit is healthy; else exit with the failure's code.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait may take.")
@click.option("--json", "as_json", is_flag=True, help="With --wait: print the verdicts as JSON.")
@click.option("--logs", "show_logs", is_flag=True,
              help="With --wait: print the units' lines while waiting (to stderr with --json).")
@click.option("--report-on-failure", "report_file", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="With --wait: write a report (`neodev report`) to this file when the "
                   "verdict fails.")
@click.option("--db-from", "db_from", default=None, metavar="INSTANCE[:SNAPSHOT]",
              help="Start this instance's database from a copy of another instance's (a "
                   "physical copy of its running server; with :SNAPSHOT, that snapshot of it "
                   "in place of the database). Only while this instance's database holds no "
                   "data.")
@click.argument("services", nargs=-1)
def start(profile: str | None, wait: bool, timeout: float, as_json: bool, show_logs: bool,
          report_file: Path | None, db_from: str | None, services: tuple[str, ...]) -> None:
    """Start the environment (or SERVICES and what they depend on) in the background."""
    if (show_logs or report_file is not None) and not wait:
        raise click.UsageError("--logs and --report-on-failure go with --wait")
    paths = workspace()
    client, fresh = daemon_client(paths, profile_name(profile), validate=True)
    with client:
        after = client.call(calls.logs(limit=0)).last_id if show_logs else 0
        conflict = False
        try:
            if db_from:
                source, _, snapshot = db_from.partition(":")
                branched = client.call(calls.branch_database(source, snapshot or None))
                click.echo(format_branched(branched), err=True)
            started = client.call(calls.start(services)).started
        except PortConflictError as error:
            if not wait:
                _end_spawned(paths, client, fresh)
                raise
            result, conflict = port_conflict_result(error), True
        except NeodevError:
            _end_spawned(paths, client, fresh)
            raise
        else:
            if fresh:
                _tell_ports(client)
            if not wait:
                click.echo(f"starting {', '.join(started) or 'nothing new'} (follow with "
                           "`neodev status`)")
                return
            result = (wait_showing_logs(client.socket, services, timeout, after, as_json)
                      if show_logs else client.call(calls.wait(services, timeout)))
        if not result.ok and report_file is not None:
            from neodev.cli.report import write_report  # only a failed wait pays for it

            write_report(paths, client, report_file, wait=result)
        if conflict:  # nothing was started
            _end_spawned(paths, client, fresh)
    echo_result(result, as_json, lambda: format_verdicts(result.units))
    if not result.ok:
        raise startup_failed(result)


def _end_spawned(paths: WorkspacePaths, client: DaemonClient, fresh: bool) -> None:
    """A daemon this command spawned and that has nothing to run ends with it."""
    if fresh:
        shutdown_spawned(paths, client)


def _tell_ports(client: DaemonClient) -> None:
    """A checkout that is not its profile's first instance: say which ports it has."""
    info = client.call(calls.ping()).instance_info
    moves = format_port_moves(info)
    if moves:
        click.echo(f"{format_instance(info)}: {moves}", err=True)


@main.command()
@click.argument("services", nargs=-1)
def stop(services: tuple[str, ...]) -> None:
    """Stop SERVICES, or the whole environment (and its daemon) when none are named."""
    paths = workspace()
    info = find_daemon(paths)
    stopped: list[str] = []
    with running_client(paths) as client:
        if not services:
            stopped = list(client.call(calls.shutdown()).stopped)
        for service in services:
            try:
                client.call(calls.act(service, "stop"))
                stopped.append(service)
            except UnitStateError as error:  # stopping what is not running is not a failure
                click.echo(error.message, err=True)
    if not services and info is not None:
        wait_for_daemon_exit(info)
    click.echo(f"stopped {', '.join(stopped) or 'nothing'}")


@main.command()
@click.argument("service")
def restart(service: str) -> None:
    """Restart one SERVICE now (no backoff)."""
    with running_client(workspace()) as client:
        client.call(calls.act(service, "restart"))
    click.echo(f"restarted {service}")


@main.command()
@click.argument("service")
def reload(service: str) -> None:
    """Reload one SERVICE now: its build step (if any), then a restart; a failed build keeps
    the running process."""
    with running_client(workspace()) as client:
        record = client.call(calls.act(service, "reload")).unit
    click.echo(f"{service}: {reload_summary(record.last_reload)}")
    if reload_failed(record.last_reload):
        sys.exit(ProcessError.exit_code)


@main.command()
@PROFILE_OPTION
@click.option("--volumes", is_flag=True, help="Also delete the named volumes (the data).")
@click.option("--json", "as_json", is_flag=True)
def down(profile: str | None, volumes: bool, as_json: bool) -> None:
    """Stop everything and remove containers and network (volumes only with --volumes)."""
    paths = workspace()
    info = find_daemon(paths)
    if info is not None:  # what runs is torn down, whatever the profile says now
        client = DaemonClient(Path(info.socket))
    else:
        client = _down_client(paths, profile_name(profile))
    with client:
        report = client.call(calls.down(volumes))
    after = read_info(paths)
    if after is not None:
        wait_for_daemon_exit(after)
    echo_result(report, as_json, lambda: format_down(report, volumes))


def _down_client(paths: WorkspacePaths, profile: str) -> DaemonClient:
    """A daemon for `down` when none runs: on the validated profile, or — when it does not
    load — one that removes what carries the project's label, saying what was not checked."""
    try:
        return DaemonClient(ensure_daemon(paths, profile, validate=True,
                                          instance=chosen_instance()).socket)
    except ConfigError as error:
        project = last_project(paths) or _project_name(paths, profile)
        click.secho(f"warning: the profile does not load ({error.message}); removing what "
                    f"carries the label com.docker.compose.project={project} instead",
                    fg="yellow", err=True)
        return DaemonClient(teardown_daemon(paths, project).socket)


def _project_name(paths: WorkspacePaths, profile: str) -> str:
    """The project a profile names, read leniently (the profile may be broken)."""
    import tomllib

    path = paths.root / "profiles" / f"{profile}.toml"
    try:
        if path.stat().st_size > 1024 * 1024:  # a broken profile may also be a huge one
            return "neotool"
        raw = tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
        name = (raw.get("project") or {}).get("name")
    except (OSError, ValueError, AttributeError, RecursionError):
        name = None
    return name if isinstance(name, str) and name else "neotool"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable status.")
def status(as_json: bool) -> None:
    """Show every unit: state, health, ports, uptime, restarts, CPU, memory."""
    paths = workspace()
    info = find_daemon(paths)
    doc: Status | None = None
    if info is not None:
        try:
            with DaemonClient(Path(info.socket)) as client:
                doc = client.call(calls.status())
        except DaemonError:
            if not wait_for_exit(info, timeout=10):
                raise
            # it was shutting down: now it is gone
    if doc is None:
        if as_json:
            click.echo(json.dumps({"running": False, "workspace": str(paths.root), "units": []}))
        else:
            click.echo(f"no neodev environment is running in {paths.root} (start one with "
                       "`neodev start`)")
        sys.exit(DaemonError.exit_code)
    if as_json:
        click.echo(json.dumps({**encode(doc), "running": True}, indent=2))
    else:
        click.echo(format_status(doc))


@main.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--tail", "tail", type=click.IntRange(min=0), default=None,
              help="Last N lines (of the services shown, merged).")
@click.option("--since", default=None, help="Only lines newer than 10s, 5m, 2h or an ISO time.")
@click.option("--grep", default=None, help="Only lines containing this text (any case).")
@click.option("--probes", is_flag=True,
              help="Also the lines that answer neodev's own readiness and liveness probes "
                   "(an app's `GET /health 200` every second), hidden by default.")
@click.argument("services", nargs=-1)
def logs(follow: bool, tail: int | None, since: str | None, grep: str | None, probes: bool,
         services: tuple[str, ...]) -> None:
    """Print the output of SERVICES (all when none), prefixed like compose."""
    color = sys.stdout.isatty()
    paths = workspace()
    info = find_daemon(paths)
    names = list(services)
    width = max((len(n) for n in names), default=8)
    start_at = parse_since(since)
    with running_client(paths) as client:
        last = 0
        for entry in _retained(client, names, tail, start_at, grep, probes):
            width = max(width, len(entry.unit))
            click.echo(format_log_line(entry, width, color))
            last = entry.id
        if not follow:
            return
        after = last or client.call(calls.logs(names, limit=0)).last_id
        try:
            for item in client.stream(calls.follow_logs(names, after=after, probes=probes)):
                if isinstance(item, LogGap):
                    click.echo(f"[{item.missed} lines were not kept]", err=True)
                elif grep is None or grep.lower() in item.line.lower():
                    width = max(width, len(item.unit))
                    click.echo(format_log_line(item, width, color))
        except KeyboardInterrupt:
            return
        except DaemonError:
            # Following ends when the environment is stopped: that is not an error.
            if not (info is not None and wait_for_exit(info, timeout=10)):
                raise
        click.echo("(the environment was stopped)", err=True)


def _retained(client: DaemonClient, names: list[str], tail: int | None, since: float | None,
              grep: str | None, probes: bool) -> list[LogRecord]:
    """The retained lines asked for, oldest first (paged backwards from the newest)."""
    found: list[LogRecord] = []
    before = None
    while tail is None or len(found) < tail:
        limit = PAGE if tail is None else min(PAGE, tail - len(found))
        if limit <= 0:
            break
        page = client.call(calls.logs(names, before=before, limit=limit, since=since, q=grep,
                                      probes=probes))
        found = list(page.lines) + found
        if not page.more or not page.lines:
            break
        before = page.lines[0].id
    return found


OPEN_TARGETS = ("grafana", "prometheus", "loki", "logs")


@main.command("open")
@click.argument("what", type=click.Choice(OPEN_TARGETS))
@click.argument("unit", required=False)
def open_(what: str, unit: str | None) -> None:
    """Open Grafana, Prometheus or Loki in the browser, or `logs UNIT`: Grafana Explore on that
    unit's lines. The URL is printed too (for a terminal without a browser)."""
    import webbrowser

    with running_client(workspace()) as client:
        telemetry = client.call(calls.status()).telemetry
    if what == "logs":
        if unit is None:
            raise ConfigError("`neodev open logs` needs a UNIT (e.g. `neodev open logs backend`)")
        if unit not in telemetry.logs:
            raise UnknownUnitError(unit, list(telemetry.logs))
        url = telemetry.logs[unit]
    else:
        url = telemetry.urls.get(what)
    if not url:
        raise ConfigError(f"this profile has no {'Grafana' if what == 'logs' else what} "
                          "service (see compose/docker-compose.local.yml)")
    click.echo(url)
    webbrowser.open(url)

