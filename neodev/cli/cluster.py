"""`neodev cluster up|status|down`: the kind mirror of the staging or prod topology.

A cluster operation is a job of the daemon (one is spawned for the occasion when none runs),
so the CLI never drives kind, kubectl or docker itself.
"""

from __future__ import annotations

import sys

import click

from neodev.cli.common import daemon_client, echo_result, main, shutdown_spawned, workspace
from neodev.cli.render import format_cluster_report, format_progress
from neodev.client import calls, find_daemon
from neodev.errors import NeodevError, StartupFailed, error_from_dict
from neodev.protocol.cluster import JobRecord


@main.group()
def cluster() -> None:
    """Mirror the staging or prod topology on a local kind cluster."""


def _cluster_command(action: str, profile: str, as_json: bool) -> None:
    """Run a cluster operation as a daemon job; print each finished step with its duration on
    stderr, then the report. Interrupting the CLI leaves the job running in the daemon."""
    paths = workspace()
    running = find_daemon(paths)
    client, fresh = daemon_client(paths, running.profile if running else profile)
    job: JobRecord | None = None
    try:
        submitted = client.call(calls.submit_job(action, profile))
        shown = 0
        for job in client.stream(calls.follow_job(submitted.id)):
            for step in job.steps[shown:]:
                if step.outcome != "running":
                    click.echo(format_progress(step), err=True)
            shown = len(job.steps)
    finally:
        if fresh:
            shutdown_spawned(paths, client)
        client.close()
    if job is None or job.state != "succeeded" or job.report is None:
        raise error_from_dict(job.error) if job is not None and job.error else NeodevError(
            "the cluster operation ended without a report")
    report = job.report
    echo_result(report, as_json, lambda: format_cluster_report(report))
    if action == "up" and not report.ready:
        sys.exit(StartupFailed.exit_code)


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
