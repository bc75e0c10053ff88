"""The dashboard as a person sees it, compared with stored screenshots, and what it does.

Each screen (main, a unit's details, a search with its highlighted match, a failed unit's error
notification) is an SVG snapshot at 80x24 and 120x40 (`pytest-textual-snapshot`; accept a
deliberate change with `--snapshot-update` and review the SVGs in the diff). The daemon is
deterministic (`scripted_daemon.py`: scripted units, fixed clocks, fixed output), the workspace
is `~/shop` under a temporary home, and times are shown in UTC. Snapshots alone prove little
about behaviour, so every screen also has `run_test` assertions on what it does.

The snapshot tests are sync (the plugin runs the app in its own event loop); the daemon runs
in a thread with a loop of its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual.widgets import Static

from neodev.client import calls
from neodev.paths import WorkspacePaths
from neodev.tui.app import NeodevApp
from neodev.tui.logview import CURRENT_MATCH, LEVEL_STYLES, MATCH
from neodev.tui.screens import DetailsScreen
from tests.tui.scripted_daemon import (
    APP_NOW,
    SECRET,
    ScriptedDaemon,
    shop_plan,
    shop_runners,
)
from tests.tui.shop import UNITS, WAIT, RecordingApp, Shop, _text
from tests.waiting import until_async

pytestmark = pytest.mark.snapshot

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


# -- snapshots ----------------------------------------------------------------------------

@SIZES
def test_main_screen_snapshot(snap_compare: Any, shop: Shop, size: tuple[int, int]) -> None:
    assert snap_compare(shop.app(), terminal_size=size, run_before=shop.settle)


@SIZES
def test_details_snapshot(snap_compare: Any, shop: Shop, size: tuple[int, int]) -> None:
    assert snap_compare(shop.app(), terminal_size=size, run_before=shop.details)


@SIZES
def test_search_snapshot(snap_compare: Any, shop: Shop, size: tuple[int, int]) -> None:
    assert snap_compare(shop.app(), terminal_size=size, run_before=shop.search)


@SIZES
def test_error_notification_snapshot(snap_compare: Any, failing_shop: Shop,
                                     size: tuple[int, int]) -> None:
    assert snap_compare(failing_shop.app(), terminal_size=size, run_before=failing_shop.settle)


# -- what the same screens do -------------------------------------------------------------

def styled(app: NeodevApp, needle: str, want: Style) -> bool:
    """Whether the row on screen holding `needle` has a segment in the colours and weight of
    `want` (rendered styles also carry offsets and the widget's background)."""
    rows = app.logview.visible_text()
    y = next(i for i, row in enumerate(rows) if needle in row)
    return any(s.style is not None and s.style.color == want.color
               and (want.bgcolor is None or s.style.bgcolor == want.bgcolor)
               and bool(s.style.bold) == bool(want.bold)
               for s in app.logview.render_line(y))


async def test_the_main_screen_shows_every_unit_from_the_stream(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        assert [str(key.value) for key in app.table.rows] == UNITS
        for name in UNITS:
            row = {key: str(app.table.get_cell(name, key))
                   for key in ("state", "uptime", "restarts", "cpu", "mem")}
            # One CPU sample so far (1.5%): a one-block sparkline.
            assert row == {"state": "● running", "uptime": "2m05s", "restarts": "0",
                           "cpu": "1.5% █", "mem": "1.0KiB"}, name
        header = _text(app.query_one("#header", Static))
        assert "~/shop" in header and str(shop.root) not in header
        assert "daemon ● connected" in header
        assert not app.query_one("#problems", Static).display
        assert _text(app.query_one("#logbar", Static)).strip() == "logs · all units · following"
        # Every line, in id order, each with its unit's prefix; levels stand out.
        rows = [r for r in app.logview.visible_text() if r]
        assert rows[-1] == "db       | checkpoint complete: wrote 42 buffers"
        assert [r.id for r in app.logview.records] == list(range(1, 12))
        assert styled(app, "payment gateway", LEVEL_STYLES["error"])
        assert styled(app, "slow query", LEVEL_STYLES["warn"])
        assert app.notes == []


async def test_details_show_the_unit_with_its_secret_masked(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.details(pilot)
        screen = app.screen
        assert isinstance(screen, DetailsScreen)
        assert screen.details.name == "api"
        assert screen.details.spec["env"]["API_TOKEN"] == "********"
        shown = "\n".join(_text(w) for w in screen.query(Static))
        assert SECRET not in shown
        assert "/srv/shop/api" in shown and "00:00:00.000" in shown  # fixed wall clock, UTC
        assert re.search(r"^last exit +-$", shown, re.MULTILINE)  # not exited yet: no "None"
        await pilot.press("escape")
        await until_async(lambda: not isinstance(app.screen, DetailsScreen), "back", WAIT,
                          sleep=pilot.pause)


async def test_search_highlights_every_match_and_steps_through_them(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.search(pilot)
        assert app.logpane.matches == [9, 10]  # the two lines with "timeout", oldest first
        assert app.logview.current_match == 10  # the newest is the current one
        assert styled(app, "payment gateway timeout", CURRENT_MATCH)
        assert styled(app, "upstream timeout", MATCH)
        assert not styled(app, "upstream timeout", CURRENT_MATCH)
        assert "search 'timeout' 2/2" in _text(app.query_one("#logbar", Static))
        await pilot.press("N")
        await until_async(lambda: app.logview.current_match == 9, "the previous match", WAIT,
                          sleep=pilot.pause)
        assert styled(app, "upstream timeout", CURRENT_MATCH)
        assert "search 'timeout' 1/2" in _text(app.query_one("#logbar", Static))


async def test_a_failed_unit_is_an_error_notification_once(failing_shop: Shop) -> None:
    app = failing_shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await failing_shop.settle(pilot)
        reason = "failed to start: ./run worker: No such file or directory"
        assert app.notes == [("error", "worker failed", reason)]
        assert f"worker: {reason}" in _text(app.query_one("#problems", Static))
        assert "crashed" in str(app.table.get_cell("worker", "state"))
        # More events about the same failure (a restart of another unit) say nothing new.
        assert app.client is not None
        await app.client.call(calls.act("api", "restart"))
        await until_async(lambda: app.view.units["api"].restarts == 1
                          and app.view.units["api"].ready, "api restarted", WAIT,
                          sleep=pilot.pause)
        assert [n for n in app.notes if n[0] == "error"] == [("error", "worker failed", reason)]


async def test_a_refused_action_is_an_error_notification(shop: Shop) -> None:
    app = shop.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await shop.settle(pilot)
        app.table.move_cursor(row=UNITS.index("api"))
        await pilot.press("s")  # api is already running: the daemon refuses (409)
        await until_async(lambda: any(n[0] == "error" for n in app.notes), "the refusal", WAIT,
                          sleep=pilot.pause)
        _, title, message = next(n for n in app.notes if n[0] == "error")
        assert title == "start api: Not possible now"
        assert "api is already running" in message
        assert app.is_running  # no traceback, the dashboard goes on


async def test_a_long_workspace_path_leaves_the_states_in_a_narrow_header(
        tmp_path: Path) -> None:
    """The header is one line: a workspace path wider than the terminal is cut at the edge,
    after the Docker and daemon states, instead of pushing them off the line."""
    root = tmp_path / "shop"  # not under HOME: shown whole (the socket's path is bounded)
    root.mkdir(parents=True)
    with ScriptedDaemon(root, shop_plan(root, False), shop_runners(False)) as daemon:
        app = RecordingApp(WorkspacePaths(root), "local", client=daemon.client(),
                           clock=lambda: APP_NOW, keymap=root / "no-keymap.toml")
        async with app.run_test(size=(80, 24)) as pilot:
            await until_async(lambda: app.view.connected, "connected", WAIT, sleep=pilot.pause)
            await pilot.pause()
            header = _text(app.query_one("#header", Static))
            assert "daemon ● connected" in header.splitlines()[0], header
            assert str(tmp_path)[:20] in header and len(str(root)) > 40
