"""`neodev report` and `neodev open-report`: one file to understand an environment afterwards.

`report -o FILE` records everything the running daemon knows (`neodev.report.record`), plus
`doctor`'s checks run here (they read the machine before and apart from any daemon — the one
named exception to the CLI's layering besides `neodev doctor` itself), every secret masked,
within a bound (`--max-size`). `start --wait --report-on-failure FILE` writes the same file
when the verdict fails. On a terminal, `neodev open-report FILE` (and `neodev --report FILE`)
opens the file in the dashboard (`neodev.entry`); in a pipe it prints what the report says.
The report package is imported by these commands only: the short commands do not pay for it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from neodev.cli.common import main, workspace
from neodev.cli.render import format_status, format_verdicts
from neodev.client import calls, load_validated, running_client
from neodev.client.sync import DaemonClient
from neodev.errors import NeodevError
from neodev.paths import WorkspacePaths
from neodev.present import format_bytes
from neodev.protocol.units import WaitResult
from neodev.report.model import MAX_BYTES, CheckLine, Manifest

MIB = 1024 * 1024
REPORT_FILE = click.Path(dir_okay=False, path_type=Path)


@main.command()
@click.option("-o", "--output", "output", type=REPORT_FILE, default=None,
              help="The file to write (default: neodev-report-<time>.zip here).")
@click.option("--max-size", type=click.IntRange(min=1), default=MAX_BYTES // MIB,
              show_default=True, help="Bound of the report's content in MiB (oldest lines cut "
              "first; the manifest says what was cut).")
def report(output: Path | None, max_size: int) -> None:
    """Write one file with everything needed to understand the environment afterwards:
    status, details and timeline of every unit, events, retained lines, probe answers, the
    configuration, doctor's checks, the daemon's log, each container's inspect — secrets
    masked. Open it with `neodev open-report FILE`."""
    paths = workspace()
    target = output or Path(f"neodev-report-{time.strftime('%Y%m%d-%H%M%S')}.zip")
    with running_client(paths) as client:
        write_report(paths, client, target, max_bytes=max_size * MIB)


def write_report(paths: WorkspacePaths, client: DaemonClient, target: Path, *,
                 wait: WaitResult | None = None, max_bytes: int = MAX_BYTES) -> Manifest:
    """Record the daemon's environment into `target`; say where, how big, what was cut."""
    from neodev.report.archive import write_archive
    from neodev.report.record import record

    started = time.monotonic()
    mask, doctor, notes = _plan_parts(paths, client.call(calls.ping()).profile)
    found = record(client, doctor=doctor, wait=wait, mask=mask, notes=notes)
    manifest = write_archive(found, target, max_bytes)
    click.echo(f"report written to {target} ({format_bytes(target.stat().st_size)}, "
               f"{time.monotonic() - started:.1f}s); open it with `neodev open-report "
               f"{target}`", err=True)
    for cut in manifest.cuts:
        click.echo(f"  cut: {cut.part}: {cut.dropped} left out, {cut.kept} kept ({cut.why})",
                   err=True)
    return manifest


def _plan_parts(paths: WorkspacePaths, profile: str
                ) -> tuple[Callable[[Any], Any], list[CheckLine], list[str]]:
    """What the CLI adds from the profile: the plan's masking over every string (a second
    pass over what the daemon masked), and `doctor`'s checks (they need no daemon)."""
    from neodev import doctor
    from neodev.config.display import mask_strings, secret_values

    try:
        plan, _, _ = load_validated(paths, profile)
    except NeodevError as error:
        return ((lambda data: data), [CheckLine("config", "fail", error.message)],
                [f"the profile does not load now ({error.message}): the report holds what "
                 "the daemon masked, not checked again"])
    secrets = secret_values(plan)
    checks = [CheckLine(c.name, c.status, c.detail, c.hint)
              for c in doctor.run_checks(plan, paths, dict(os.environ))]
    return (lambda data: mask_strings(data, secrets)), checks, []


@main.command("open-report")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def open_report(file: Path) -> None:
    """Open a report in the dashboard, read-only (on a terminal); in a pipe, print what it
    says: the verdict, the status, what was cut."""
    from neodev.report.viewer import ReportClient

    viewer = ReportClient.open(file)
    found = viewer.report
    click.echo(viewer.title)
    if found.wait is not None:
        click.echo(format_verdicts(found.wait.units))
    click.echo(format_status(found.status, now=found.manifest.created_at))
    for cut in found.manifest.cuts:
        click.echo(f"cut: {cut.part}: {cut.dropped} left out, {cut.kept} kept ({cut.why})")
    for note in found.manifest.notes:
        click.echo(f"note: {note}")
    click.echo("(open it on a terminal for the dashboard: `neodev open-report FILE`)")

