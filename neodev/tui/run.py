"""Running the dashboard in this terminal (`neodev` with no command), tuned for it."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from neodev.client import Launched, ensure_daemon
from neodev.paths import WorkspacePaths
from neodev.tui.app import NeodevApp

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two young collections (CPython's default: 700); see `tune_gc`."""
STATS_ENV = "NEODEV_TUI_STATS"
"""A file the dashboard writes its log counters to, every second and at exit (JSON:
delivered, collapsed): how `benchmarks/tui_logs.py` reads a dashboard in a real terminal."""


def tune_gc() -> None:
    """Set CPython's garbage collector up for a dashboard (once per process, before the app).

    Under a flood of output the app allocates fast, and Textual's rendering leaves reference
    cycles (strips with their caches), so full collections came every second or so, each
    scanning everything loaded at start (textual, rich, httpx: ~50k objects) for 50-150 ms —
    the worst key-press latencies. What is loaded now is never garbage: freeze it (full
    collections skip it), and collect the young generation less often, so more of each
    frame's garbage dies young instead of reaching the old generation.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run_dashboard(paths: WorkspacePaths, profile: str, instance: str | None = None) -> str:
    """Run the dashboard in this terminal (as instance `instance`: `neodev --instance NAME`);
    returns what to say when it ended."""
    tune_gc()
    stats = os.environ.get(STATS_ENV)

    def ensure(where: WorkspacePaths, name: str) -> Launched:
        return ensure_daemon(where, name, validate=True, instance=instance)

    app = NeodevApp(paths, profile, ensure=ensure, stats_file=Path(stats) if stats else None)
    app.run()
    app.write_stats()
    return app.exit_message


def run_report(file: str) -> int:
    """Show a report in the dashboard, read-only (no daemon, no Docker); the exit status."""
    from neodev.errors import NeodevError
    from neodev.report.viewer import ReportClient

    try:
        client = ReportClient.open(Path(file))
    except NeodevError as error:
        print(f"{error.title}: {error.message}", file=sys.stderr)
        return error.exit_code
    tune_gc()
    workspace = Path(client.report.status.workspace or ".")
    app = NeodevApp(WorkspacePaths(workspace), client.report.status.profile, client=client,
                    report=client.title)
    app.run()
    return 0
