"""The scripted shop the dashboard tests share: a deterministic daemon and dashboards on it.

`shop` and `failing_shop` are a scripted environment (db <- api <- worker, `scripted_daemon.py`)
under a temporary home (the header shows `~/shop`, times are UTC); `Shop.app()` a dashboard on
it that keeps every notification it raises.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Static

from neodev.client import calls
from neodev.paths import WorkspacePaths
from neodev.tui import app as app_module
from neodev.tui.app import NeodevApp
from neodev.tui.screens import DetailsScreen
from tests.tui.scripted_daemon import APP_NOW, ScriptedDaemon, shop_plan, shop_runners
from tests.waiting import until_async

WAIT = 10.0
"""Seconds any condition below may take to come true (they take milliseconds)."""
OUTPUT = [
    ("db", "checkpoint starting: time"),
    ("api", "GET /v1/orders 200 12ms"),
    ("worker", "job 17 done in 41ms"),
    ("api", "WARN slow query on orders (812ms)"),
    ("api", "POST /v1/orders 201 31ms"),
    ("worker", "retrying job 18: upstream timeout"),
    ("api", "ERROR payment gateway timeout after 5000ms"),
    ("db", "checkpoint complete: wrote 42 buffers"),
]
"""Printed once every unit settled, after each unit's own first line (ids 1-3)."""
UNITS = ["db", "api", "worker"]


class RecordingApp(NeodevApp):
    """The dashboard, keeping every notification it raises (severity, title, message)."""

    # Textual resolves a relative CSS_PATH against the module of the class: this one's.
    CSS_PATH = str(Path(app_module.__file__).with_name("neodev.tcss"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[tuple[str, str, str]] = []

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        self.notes.append((str(severity), title, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)


class Shop:
    """A scripted environment (db <- api <- worker) and dashboards on it."""

    def __init__(self, daemon: ScriptedDaemon, root: Path, failing: bool) -> None:
        self.daemon = daemon
        self.root = root
        self.failing = failing

    def app(self) -> RecordingApp:
        return RecordingApp(WorkspacePaths(self.root), "local", client=self.daemon.client(),
                            clock=lambda: APP_NOW, keymap=self.root / "no-keymap.toml")

    def _settled(self, app: NeodevApp) -> bool:
        units = app.view.units
        if [*units] != UNITS:
            return False
        up = UNITS[:2] if self.failing else UNITS
        if not all(units[n].ready and units[n].memory_bytes for n in up):
            return False
        return not self.failing or (units["worker"].start_failed
                                    and app.query_one("#problems", Static).display)

    async def settle(self, pilot: Pilot[Any]) -> None:
        """Start every unit (after the app connected, so it sees each unit's first CPU
        sample), then print the fixed output and wait until the pane holds all of it."""
        app = cast(NeodevApp, pilot.app)
        await until_async(lambda: app.view.connected and len(app.view.units) == 3,
                          "the first snapshot", WAIT, sleep=pilot.pause)
        assert app.client is not None
        await app.client.call(calls.start())
        await until_async(lambda: self._settled(app), "every unit settled", WAIT,
                          sleep=pilot.pause)
        await asyncio.to_thread(self.daemon.print, OUTPUT)
        await until_async(lambda: len(app.logview.records) == 3 + len(OUTPUT), "the output", WAIT,
                          sleep=pilot.pause)

    async def search(self, pilot: Pilot[Any]) -> None:
        await self.settle(pilot)
        await pilot.press("slash", *"timeout", "enter")
        app = cast(NeodevApp, pilot.app)
        await until_async(lambda: app.logview.current_match is not None, "the search", WAIT,
                          sleep=pilot.pause)

    async def details(self, pilot: Pilot[Any]) -> None:
        await self.settle(pilot)
        app = cast(NeodevApp, pilot.app)
        app.table.move_cursor(row=UNITS.index("api"))
        await pilot.press("d")
        await until_async(lambda: isinstance(app.screen, DetailsScreen), "the details", WAIT,
                          sleep=pilot.pause)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home directory (the header shows `~/shop`) and UTC (the details show times)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield tmp_path
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


def _shop(home: Path, failing: bool) -> Iterator[Shop]:
    root = home / "shop"
    root.mkdir()
    with ScriptedDaemon(root, shop_plan(root, failing), shop_runners(failing)) as daemon:
        yield Shop(daemon, root, failing)


@pytest.fixture
def shop(home: Path) -> Iterator[Shop]:
    yield from _shop(home, failing=False)


@pytest.fixture
def failing_shop(home: Path) -> Iterator[Shop]:
    """The same, but the worker cannot start (and has no restart policy)."""
    yield from _shop(home, failing=True)


def _text(widget: Static) -> str:
    """The widget's text as it is drawn (at its size, tables laid out)."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text.rstrip() for strip in strips)
