"""The `neodev` command: the dashboard when no command is given on a terminal, else the CLI.

The dashboard (`neodev.tui`) and the headless CLI (`neodev.cli`) are independent of each
other; this is the one place that chooses between them, importing Textual only when the
dashboard is what was asked for — on the environment, or on a report (`neodev --report FILE`,
`neodev open-report FILE`: the dashboard read-only, from the file).
"""

from __future__ import annotations

import os
import sys

PROFILE_FLAGS = ("-p", "--profile")
INSTANCE_FLAG = "--instance"


def dashboard_options(args: list[str]) -> tuple[str, str | None] | None:
    """(profile, instance) when `args` ask for the dashboard: nothing but a profile option
    and the global `--instance NAME`; None when they name a command."""
    instance = None
    if args[:1] == [INSTANCE_FLAG] and len(args) >= 2:
        instance, args = args[1], args[2:]
    elif args[:1] and args[0].startswith(f"{INSTANCE_FLAG}="):
        instance, args = args[0].partition("=")[2], args[1:]
    if not args:
        return os.environ.get("NEODEV_PROFILE") or "local", instance
    if len(args) == 2 and args[0] in PROFILE_FLAGS:
        return args[1], instance
    if len(args) == 1 and args[0].startswith("--profile="):
        return args[0].partition("=")[2], instance
    return None


def report_file(args: list[str]) -> str | None:
    """The report when `args` ask for it in the dashboard: `--report FILE`, `--report=FILE`
    or `open-report FILE`."""
    if len(args) == 2 and args[0] in ("--report", "open-report"):
        return args[1]
    if len(args) == 1 and args[0].startswith("--report="):
        return args[0].partition("=")[2]
    return None


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # answered before any command machinery is imported
        from neodev import __version__

        print(f"neodev, version {__version__}")
        return
    report = report_file(sys.argv[1:])
    if report is not None and sys.stdin.isatty() and sys.stdout.isatty():
        from neodev.tui.run import run_report

        sys.exit(run_report(report))
    if report is not None:
        sys.argv[1:] = ["open-report", report]  # in a pipe: what the report says, as text
    options = dashboard_options(sys.argv[1:])
    if options is not None and sys.stdin.isatty() and sys.stdout.isatty():
        from neodev.paths import WorkspacePaths, find_workspace
        from neodev.tui.run import run_dashboard

        message = run_dashboard(WorkspacePaths(find_workspace()), *options)
        if message:
            print(message)
        return
    from neodev.cli import main as cli

    cli()
