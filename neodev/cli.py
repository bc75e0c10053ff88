"""The headless commands: parse, ask the daemon, print (text or --json), exit with a code.

Exit codes (also in the README):
  0 ok · 1 unexpected failure · 2 configuration error (nothing started) · 3 Docker error or
  host port taken · 4 process error · 5 cluster error · 6 daemon not running / unreachable ·
  7 `start --wait` ended with units that are not healthy · 8 database refused (`db`: in use,
  name taken) · 1 `doctor` found a failing check.

The CLI never touches Docker or processes: units are reached through the daemon's API only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from neodev import __version__
from neodev.daemon import lifecycle
from neodev.daemon.client import DaemonClient
from neodev.daemon.launch import Launched, ensure_daemon
from neodev.errors import (
    ConfigError,
    DaemonError,
    NeodevError,
    ProcessError,
    StartupFailed,
    UnitStateError,
    UnknownUnitError,
    error_from_dict,
)
from neodev.output import (
    format_cluster_report,
    format_down,
    format_log_line,
    format_progress,
    format_reload,
    format_snapshot_outcome,
    format_snapshots,
    format_status,
    format_verdicts,
    parse_since,
)
from neodev.paths import WorkspacePaths, find_workspace

if TYPE_CHECKING:
    from neodev.config.model import EnvironmentPlan
    from neodev.doctor import Check

PAGE = 5_000
"""Lines asked for per request when printing retained logs."""

# Configuration modules (pydantic) are imported inside the commands that need them, so that
# `status`, `logs` and `stop` start fast: they only talk to the daemon.
PROFILE_OPTION = click.option("--profile", "-p", default=None,
                              help="Profile name in profiles/ (default: $NEODEV_PROFILE or local).")


def _profile(profile: str | None) -> str:
    return profile or os.environ.get("NEODEV_PROFILE") or "local"


def _paths() -> WorkspacePaths:
    return WorkspacePaths(find_workspace())


def fail(error: NeodevError) -> NoReturn:
    """Print a NeodevError as `Title: message` on stderr and exit with its code."""
    click.secho(f"{error.title}: ", fg="red", bold=True, err=True, nl=False)
    click.echo(error.message, err=True)
    sys.exit(error.exit_code)


def _tell(launched: Launched) -> None:
    """What the person should know about a daemon just spawned: warnings, generated secrets."""
    for warning in launched.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if launched.generated:
        click.echo(f"generated {', '.join(launched.generated)} into {launched.secrets_file} "
                   "(never tracked; set them in .env to choose your own)", err=True)


def _load_plan(paths: WorkspacePaths, profile: str) -> EnvironmentPlan:
    """The validated plan (missing secrets generated, and said so)."""
    from neodev.daemon.launch import load_validated

    plan, generated, secrets_file = load_validated(paths, profile)
    if generated:
        click.echo(f"generated {', '.join(generated)} into {secrets_file} (never tracked; set "
                   "them in .env to choose your own)", err=True)
    return plan


def _running_client(paths: WorkspacePaths) -> DaemonClient:
    info = lifecycle.find_daemon(paths)
    if info is None:
        raise DaemonError(f"no neodev environment is running in {paths.root} "
                          "(start one with `neodev start`)")
    return DaemonClient(Path(info.socket))


def _ensure_daemon(paths: WorkspacePaths, profile: str, validate: bool = False
                   ) -> tuple[DaemonClient, bool]:
    """The running daemon's client (spawning one first if needed), and whether it is new."""
    launched = ensure_daemon(paths, profile, validate=validate)
    _tell(launched)
    return DaemonClient(launched.socket), launched.fresh


class NeodevGroup(click.Group):
    """Turns every NeodevError into `Title: message` and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NeodevError as error:
            fail(error)


@click.group(cls=NeodevGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="neodev")
@click.pass_context
def main(ctx: click.Context) -> None:
    """neodev: the NeoTool local development environment in one tool."""
    if ctx.invoked_subcommand is None:
        # `neodev` on a terminal opens the dashboard (neodev.entry); here stdin or stdout is
        # not a terminal (a script, a pipe): say what there is instead.
        click.echo(ctx.get_help())
        click.echo("\n`neodev` alone opens the dashboard in a terminal; in scripts use "
                   "`neodev start --wait`, `neodev status --json`, `neodev logs`.")


def _echo_result(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    """A command's result: as indented JSON with `--json`, else as the text for people."""
    click.echo(json.dumps(data, indent=2) if as_json else text())


@main.command()
@PROFILE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
def config(profile: str | None, as_json: bool) -> None:
    """Print the resolved configuration model (secrets masked)."""
    from neodev.configstate import cached_config

    paths, name = _paths(), _profile(profile)

    def render() -> dict[str, Any]:
        import yaml

        from neodev.config.display import plan_for_display

        data = plan_for_display(_load_plan(paths, name))
        return {"json": json.dumps(data, indent=2, default=str),
                "yaml": yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()}

    # Both forms are stored: a repeated run then needs neither pydantic nor a YAML emitter.
    click.echo(cached_config(paths, name, os.environ, render)["json" if as_json else "yaml"])


@main.command()
@PROFILE_OPTION
def doctor(profile: str | None) -> None:
    """Check the machine: Docker, images, ports, kubectl/kind, .env."""
    from neodev import doctor as checks

    paths = _paths()
    plan = None
    try:
        plan = _load_plan(paths, _profile(profile))
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

    info = lifecycle.find_daemon(paths)
    if info is None:
        return [Check("wiring", "warn", "no environment running: metrics targets, Loki and "
                      "Grafana not checked", "start it with `neodev start`")]
    with DaemonClient(Path(info.socket)) as client:
        found = client.wiring()["checks"]
    return [Check(f"wiring:{c['name']}", c["status"], c["detail"]) for c in found]


@main.command()
@PROFILE_OPTION
@click.option("--wait", is_flag=True, help="Return once every unit is healthy (exit 7 if not).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait may take.")
@click.option("--json", "as_json", is_flag=True, help="With --wait: print the verdicts as JSON.")
@click.argument("services", nargs=-1)
def start(profile: str | None, wait: bool, timeout: float, as_json: bool,
          services: tuple[str, ...]) -> None:
    """Start the environment (or SERVICES and what they depend on) in the background."""
    paths = _paths()
    name = _profile(profile)
    client, fresh = _ensure_daemon(paths, name, validate=True)
    with client:
        try:
            started = client.start(list(services))["started"]
        except NeodevError:
            if fresh:
                _shutdown_spawned(paths, client)
            raise
        if not wait:
            click.echo(f"starting {', '.join(started) or 'nothing new'} (follow with "
                       "`neodev status`)")
            return
        result = client.wait(list(services), timeout)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(format_verdicts(result["units"]))
    if not result["ok"]:
        failed = [u["unit"] for u in result["units"] if not u["ok"]]
        raise StartupFailed(f"not healthy: {', '.join(failed)} (the rest keeps running; "
                            "see `neodev logs` and `neodev status`)")


@main.command()
@click.argument("services", nargs=-1)
def stop(services: tuple[str, ...]) -> None:
    """Stop SERVICES, or the whole environment (and its daemon) when none are named."""
    paths = _paths()
    info = lifecycle.find_daemon(paths)
    stopped: list[str] = []
    with _running_client(paths) as client:
        if not services:
            stopped = client.shutdown()["stopped"]
        for service in services:
            try:
                client.act(service, "stop")
                stopped.append(service)
            except UnitStateError as error:  # stopping what is not running is not a failure
                click.echo(error.message, err=True)
    if not services and info is not None:
        _wait_for_daemon_exit(info)
    click.echo(f"stopped {', '.join(stopped) or 'nothing'}")


def _wait_for_daemon_exit(info: lifecycle.DaemonInfo) -> None:
    """Return only once the daemon is gone, so the next command never meets a dying one."""
    if not lifecycle.wait_for_exit(info, timeout=60):
        raise DaemonError(f"the daemon (pid {info.pid}) did not exit within 60 s after "
                          "stopping its units; see .neodev/daemon.log")


@main.command()
@click.argument("service")
def restart(service: str) -> None:
    """Restart one SERVICE now (no backoff)."""
    with _running_client(_paths()) as client:
        client.act(service, "restart")
    click.echo(f"restarted {service}")


@main.command()
@click.argument("service")
def reload(service: str) -> None:
    """Reload one SERVICE now: its build step (if any), then a restart; a failed build keeps
    the running process."""
    with _running_client(_paths()) as client:
        record = client.act(service, "reload")["unit"]
    last = record.get("last_reload") or {}
    outcome = last.get("outcome")
    click.echo(f"{service}: {format_reload(last)}")
    if outcome not in ("ok", None):
        sys.exit(ProcessError.exit_code)


@main.command()
@PROFILE_OPTION
@click.option("--volumes", is_flag=True, help="Also delete the named volumes (the data).")
@click.option("--json", "as_json", is_flag=True)
def down(profile: str | None, volumes: bool, as_json: bool) -> None:
    """Stop everything and remove containers and network (volumes only with --volumes)."""
    paths = _paths()
    info = lifecycle.find_daemon(paths)
    if info is not None:  # what runs is torn down, whatever the profile says now
        client = DaemonClient(Path(info.socket))
    else:
        client = _down_client(paths, _profile(profile))
    with client:
        report = client.down(volumes)
    after = lifecycle.read_info(paths)
    if after is not None:
        _wait_for_daemon_exit(after)
    _echo_result(report, as_json, lambda: format_down(report, volumes))


def _down_client(paths: WorkspacePaths, profile: str) -> DaemonClient:
    """A daemon for `down` when none runs: on the validated profile, or — when it does not
    load — one that removes what carries the project's label, saying what was not checked."""
    from neodev.daemon.launch import teardown_daemon

    try:
        return DaemonClient(ensure_daemon(paths, profile, validate=True).socket)
    except ConfigError as error:
        project = lifecycle.last_project(paths) or _project_name(paths, profile)
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
    paths = _paths()
    info = lifecycle.find_daemon(paths)
    data: dict[str, Any] | None = None
    if info is not None:
        try:
            with DaemonClient(Path(info.socket)) as client:
                data = client.status()
        except DaemonError:
            if lifecycle.wait_for_exit(info, timeout=10):
                data = None  # it was shutting down: now it is gone
            else:
                raise
    if data is None:
        if as_json:
            click.echo(json.dumps({"running": False, "workspace": str(paths.root), "units": []}))
        else:
            click.echo(f"no neodev environment is running in {paths.root} (start one with "
                       "`neodev start`)")
        sys.exit(DaemonError.exit_code)
    data["running"] = True
    _echo_result(data, as_json, lambda: format_status(data))


@main.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--tail", "tail", type=click.IntRange(min=0), default=None,
              help="Last N lines (of the services shown, merged).")
@click.option("--since", default=None, help="Only lines newer than 10s, 5m, 2h or an ISO time.")
@click.option("--grep", default=None, help="Only lines containing this text (any case).")
@click.argument("services", nargs=-1)
def logs(follow: bool, tail: int | None, since: str | None, grep: str | None,
         services: tuple[str, ...]) -> None:
    """Print the output of SERVICES (all when none), prefixed like compose."""
    color = sys.stdout.isatty()
    paths = _paths()
    info = lifecycle.find_daemon(paths)
    names = list(services)
    width = max((len(n) for n in names), default=8)
    start_at = parse_since(since)
    with _running_client(paths) as client:
        last = 0
        for entry in _retained(client, names, tail, start_at, grep):
            width = max(width, len(entry["unit"]))
            click.echo(format_log_line(entry, width, color))
            last = entry["id"]
        if not follow:
            return
        try:
            for item in client.follow_logs(names, after=last or client.logs(
                    names, limit=0)["last_id"]):
                if item["type"] == "gap":
                    click.echo(f"[{item['missed']} lines were not kept]", err=True)
                elif grep is None or grep.lower() in item["line"].lower():
                    width = max(width, len(item["unit"]))
                    click.echo(format_log_line(item, width, color))
        except KeyboardInterrupt:
            return
        except DaemonError:
            # Following ends when the environment is stopped: that is not an error.
            if not (info is not None and lifecycle.wait_for_exit(info, timeout=10)):
                raise
        click.echo("(the environment was stopped)", err=True)


def _retained(client: DaemonClient, names: list[str], tail: int | None, since: float | None,
              grep: str | None) -> list[dict[str, Any]]:
    """The retained lines asked for, oldest first (paged backwards from the newest)."""
    wanted = tail if tail is not None else None
    found: list[dict[str, Any]] = []
    before = None
    while wanted is None or len(found) < wanted:
        limit = PAGE if wanted is None else min(PAGE, wanted - len(found))
        if limit <= 0:
            break
        page = client.logs(names, before=before, limit=limit, since=since, q=grep)
        found = page["lines"] + found
        if not page["more"] or not page["lines"]:
            break
        before = page["lines"][0]["id"]
    return found


OPEN_TARGETS = ("grafana", "prometheus", "loki", "logs")


@main.command("open")
@click.argument("what", type=click.Choice(OPEN_TARGETS))
@click.argument("unit", required=False)
def open_(what: str, unit: str | None) -> None:
    """Open Grafana, Prometheus or Loki in the browser, or `logs UNIT`: Grafana Explore on that
    unit's lines. The URL is printed too (for a terminal without a browser)."""
    import webbrowser

    with _running_client(_paths()) as client:
        telemetry = client.status().get("telemetry") or {}
    if what == "logs":
        if unit is None:
            raise ConfigError("`neodev open logs` needs a UNIT (e.g. `neodev open logs backend`)")
        links = telemetry.get("logs") or {}
        if unit not in links:
            raise UnknownUnitError(unit, list(links))
        url = links[unit]
    else:
        url = (telemetry.get("urls") or {}).get(what)
    if not url:
        raise ConfigError(f"this profile has no {'Grafana' if what == 'logs' else what} "
                          "service (see compose/docker-compose.local.yml)")
    click.echo(url)
    webbrowser.open(url)


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
    with _running_client(_paths()) as client:
        outcome = client.take_snapshot(name, service, force)
    _echo_result(outcome, as_json, lambda: format_snapshot_outcome(outcome))


@db.command("restore")
@click.argument("name")
@SERVICE_OPTION
@FORCE_OPTION
@DB_JSON
def db_restore(name: str, service: str | None, force: bool, as_json: bool) -> None:
    """Put snapshot NAME back (the current data becomes a `before-restore-…` snapshot)."""
    with _running_client(_paths()) as client:
        outcome = client.restore_snapshot(name, service, force)
    _echo_result(outcome, as_json, lambda: format_snapshot_outcome(outcome))


@db.command("list")
@SERVICE_OPTION
@DB_JSON
def db_list(service: str | None, as_json: bool) -> None:
    """The snapshots on the dev Postgres, oldest first."""
    with _running_client(_paths()) as client:
        snapshots = client.snapshots(service)["snapshots"]
    _echo_result(snapshots, as_json, lambda: format_snapshots(snapshots))


@db.command("drop")
@click.argument("name")
@SERVICE_OPTION
def db_drop(name: str, service: str | None) -> None:
    """Delete snapshot NAME."""
    with _running_client(_paths()) as client:
        client.drop_snapshot(name, service)
    click.echo(f"dropped snapshot {name}")


@main.group()
def cluster() -> None:
    """Mirror the staging or prod topology on a local kind cluster."""


def _cluster_command(action: str, profile: str, as_json: bool) -> None:
    """Run a cluster operation as a daemon job (a daemon is spawned for the occasion when none
    runs, so the CLI never drives kind, kubectl or docker itself); print each finished step
    with its duration on stderr, then the report. Interrupting the CLI leaves the job running
    in the daemon."""
    paths = _paths()
    running = lifecycle.find_daemon(paths)
    client, fresh = _ensure_daemon(paths, running.profile if running else profile)
    job: dict[str, Any] = {}
    try:
        submitted = client.submit_job(action, profile)
        shown = 0
        for job in client.follow_job(submitted["id"]):
            for step in job["steps"][shown:]:
                if step["outcome"] != "running":
                    click.echo(format_progress(step), err=True)
            shown = len(job["steps"])
    finally:
        if fresh:
            _shutdown_spawned(paths, client)
        client.close()
    if job.get("state") != "succeeded":
        raise error_from_dict(job.get("error") or {
            "message": "the cluster operation ended without a report"})
    report = job["report"]
    _echo_result(report, as_json, lambda: format_cluster_report(report))
    if action == "up" and not report["ready"]:
        sys.exit(StartupFailed.exit_code)


def _shutdown_spawned(paths: WorkspacePaths, client: DaemonClient) -> None:
    """End a daemon this command spawned only for itself."""
    info = lifecycle.read_info(paths)
    client.shutdown()
    if info is not None:
        _wait_for_daemon_exit(info)


CLUSTER_PROFILE = click.option("--profile", "-p", default="staging", show_default=True,
                               help="Profile whose [cluster] section to mirror.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


@cluster.command("up")
@CLUSTER_PROFILE
@JSON_OPTION
def cluster_up(profile: str, as_json: bool) -> None:
    """Create (or reconcile) the kind mirror, build and push images, apply, wait."""
    _cluster_command("up", profile, as_json)


@cluster.command("status")
@CLUSTER_PROFILE
@JSON_OPTION
def cluster_status(profile: str, as_json: bool) -> None:
    """Deployments ready/desired, HPAs, pods that are not ready and why."""
    _cluster_command("status", profile, as_json)


@cluster.command("down")
@CLUSTER_PROFILE
@JSON_OPTION
def cluster_down(profile: str, as_json: bool) -> None:
    """Delete the kind cluster (the local registry is kept)."""
    _cluster_command("down", profile, as_json)


if __name__ == "__main__":
    main()
