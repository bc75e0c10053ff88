"""`neodev`: the dashboard, a Textual app that is a client of the daemon and nothing else.

It finds the workspace's daemon or starts one (and with it the environment), renders the event
stream — never polling `/v1/status` — and acts through the API. Three async workers do the
talking: the connection (spawn/attach), the event follower (it reconnects by itself and the
header says so), and the log follower (lines are buffered and flushed to the pane on a timer,
so a flood of output costs one repaint per tick, not one per line). Actions run as workers
too; their errors become notifications, never a traceback.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import time
import webbrowser
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from neodev.daemon.aclient import AsyncDaemonClient
from neodev.daemon.client import Connection
from neodev.daemon.launch import Launched, ensure_daemon
from neodev.errors import DaemonError, NeodevError
from neodev.paths import WorkspacePaths
from neodev.protocol import LogRecord, ReloadPhase, Snapshot
from neodev.tui.keymap import load_keymap
from neodev.tui.logview import LogView
from neodev.tui.screens import ConfirmDown, DetailsScreen, HelpScreen
from neodev.tui.units import UnitsTable
from neodev.tui.view import EnvironmentView

BACKLOG = 500
"""Lines fetched when the log pane (re)starts, before following."""
PENDING_CAP = 20_000
"""Lines buffered between two flushes at most; beyond, the oldest are collapsed (counted)."""
FLUSH_SECONDS = 0.1
YIELD_EVERY = 200
"""Lines the log follower reads before it lets other work (a key press, a repaint) run: one
chunk of the stream holds hundreds of lines, and reading them costs no await."""
LEVELS: tuple[frozenset[str] | None, ...] = (None, frozenset({"warn", "error"}),
                                             frozenset({"error"}))
LEVEL_NAMES = ("all levels", "warnings and errors", "errors")
SEARCH_LIMIT = 1000
GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two young collections (CPython's default: 700); see `tune_gc`."""
KEPT = "kept"
STATS_ENV = "NEODEV_TUI_STATS"
"""A file the dashboard writes its log counters to, every second and at exit (JSON:
delivered, collapsed): how `benchmarks/tui_logs.py` reads a dashboard in a real terminal."""
STOPPED = "stopped"

Ensure = Callable[[WorkspacePaths, str], Launched]


def _ensure(paths: WorkspacePaths, profile: str) -> Launched:
    return ensure_daemon(paths, profile, validate=True)


class Bar(Static):
    """A bar redrawn only when what it says changes: the header and the problems bar are set
    on every unit event (stats included), the log bar on every flush of lines.

    Args:
        one_line: Its height never changes, so a change needs no layout pass.
    """

    def __init__(self, *, id: str, one_line: bool = True) -> None:
        super().__init__(id=id)
        self._one_line = one_line
        self._shown: tuple[object, ...] | None = None

    def say(self, text: Text) -> None:
        shown = (text.plain, str(text.style), tuple(text.spans))  # Text's == omits its style
        if shown != self._shown:
            self._shown = shown
            self.update(text, layout=not self._one_line)


def shown_path(path: str) -> str:
    """A path as the header shows it: under the home directory as `~/...` (shorter, and the
    same on every machine, which the snapshot tests rely on)."""
    home = os.path.expanduser("~")
    if home not in ("~", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


class NeodevApp(App[str | None]):
    """The dashboard of one workspace's environment."""

    CSS_PATH = "neodev.tcss"
    TITLE = "neodev"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "act('start')", "Start", id="start"),
        Binding("x", "act('stop')", "Stop", id="stop"),
        Binding("r", "act('restart')", "Restart", id="restart"),
        Binding("b", "act('reload')", "Reload", id="reload"),
        Binding("S", "start_all", "Start all", show=False, id="start_all"),
        Binding("X", "stop_all", "Stop all", show=False, id="stop_all"),
        Binding("d", "details", "Details", id="details"),
        Binding("o", "open_url", "Open", show=False, id="open"),
        Binding("c", "copy_connection", "Copy DSN/URL", show=False, id="copy_connection"),
        Binding("slash", "search", "Search", id="search"),
        Binding("n", "next_match", "Next match", show=False, id="next_match"),
        Binding("N", "previous_match", "Previous match", show=False, id="previous_match"),
        Binding("f", "toggle_unit_filter", "This unit/all", id="filter_unit"),
        Binding("e", "cycle_level", "Level filter", show=False, id="filter_level"),
        Binding("w", "toggle_wrap", "Wrap", show=False, id="wrap"),
        Binding("t", "toggle_timestamps", "Timestamps", show=False, id="timestamps"),
        Binding("ctrl+l", "clear_logs", "Clear", show=False, id="clear"),
        Binding("z", "fullscreen", "Full-screen logs", show=False, id="fullscreen"),
        Binding("y", "copy_selection", "Copy selection", show=False, id="copy"),
        Binding("end", "follow", "Follow", show=False, id="follow"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("D", "down_volumes", "Down + delete volumes", show=False, id="down_volumes"),
        Binding("q", "quit_keep", "Quit", id="quit"),
        Binding("Q", "quit_stop", "Stop all + quit", id="quit_stop"),
    ]

    def __init__(self, paths: WorkspacePaths, profile: str = "local", *,
                 client: AsyncDaemonClient | None = None, ensure: Ensure = _ensure,
                 clock: Callable[[], float] = time.time, keymap: Path | None = None,
                 log_capacity: int = 10_000, stats_file: Path | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.profile = profile
        self.client = client
        self._ensure = ensure
        self._clock = clock
        self._keymap_file = keymap
        self._stats_file = stats_file
        self.view = EnvironmentView()
        self.table = UnitsTable(self.view.sparkline, id="units")
        self.logview = LogView(log_capacity, id="logs")
        # Held, not queried: a query looks at the active screen, and a modal (help, details)
        # may be on top when an event or the flush timer updates these (or, after quit, the
        # screen's widgets are already gone).
        self.header_bar = Bar(id="header")
        self.problems_bar = Bar(id="problems", one_line=False)
        self.log_bar = Bar(id="logbar")
        self.search_input = Input(placeholder="search the retained logs (Enter; Esc to close)",
                                  id="search")
        self.pending: deque[LogRecord] = deque(maxlen=PENDING_CAP)
        self.collapsed = 0
        """Lines collapsed because the pane could not keep up (said in the log bar)."""
        self.delivered = 0
        """Lines written to the pane (for the benchmark)."""
        self.last_log_id: int | None = None
        self.unit_filter: str | None = None
        self.level_index = 0
        self.history = False
        """Showing lines around a search match instead of following."""
        self.matches: list[int] = []
        self.match_index = -1
        self.query_text = ""
        self.telemetry: dict[str, Any] = {}
        self.volumes: list[str] = []
        self.workspace = str(paths.root)
        self.exit_message = ""

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header_bar
        yield self.table
        yield Static(self._actions_bar(), id="actions")
        yield self.problems_bar
        yield self.log_bar
        yield self.logview
        yield self.search_input
        yield Footer()

    def _actions_bar(self) -> Text:
        return Text.from_markup(
            " [@click=app.act('start')]start[/] · [@click=app.act('stop')]stop[/] · "
            "[@click=app.act('restart')]restart[/] · [@click=app.act('reload')]reload[/] · "
            "[@click=app.details]details[/] · [@click=app.open_url]open[/] · "
            "[@click=app.copy_connection]copy DSN[/] · [@click=app.start_all]start all[/] · "
            "[@click=app.stop_all]stop all[/] · [@click=app.help]help[/]")

    async def on_mount(self) -> None:
        self.search_input.display = False
        self._apply_keymap()
        self._header()
        self._logbar()
        self.set_interval(FLUSH_SECONDS, self._flush_logs)
        self.set_interval(1.0, self._tick)
        self.connect()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def _apply_keymap(self) -> None:
        keymap, problem = load_keymap(self._keymap_file)
        if keymap:
            self.set_keymap(keymap)
        if problem:
            self.notify(problem, title="Keymap", severity="warning")

    # -- connection and followers ---------------------------------------------------------

    @work(group="connect", exclusive=True, exit_on_error=False)
    async def connect(self) -> None:
        if self.client is None:
            self._say_header("starting the environment…")
            try:
                launched = await asyncio.to_thread(self._ensure, self.paths, self.profile)
            except NeodevError as error:
                self.view.connection_detail = error.title
                self._header()
                self._problem_text(f"{error.title}: {error.message}")
                self.notify(error.message, title=error.title, severity="error", timeout=30)
                return
            self.client = AsyncDaemonClient(launched.socket)
            for warning in launched.warnings:
                self.notify(warning, title="Warning", severity="warning")
            if launched.generated:
                self.notify(f"generated {', '.join(launched.generated)} into "
                            f"{launched.secrets_file}", title="Secrets")
            if launched.fresh:
                await self._call(self.client.start(None), "start")
        try:
            status = await self.client.status()
            self.telemetry = status.get("telemetry") or {}
            self.volumes = list(status.get("volumes") or [])
            self.workspace = str(status.get("workspace") or self.workspace)
            self.profile = str(status.get("profile") or self.profile)
        except NeodevError as error:
            self.notify(error.message, title=error.title, severity="error")
        self.follow_events()
        self.follow_logs()

    @work(group="events", exclusive=True, exit_on_error=False)
    async def follow_events(self) -> None:
        assert self.client is not None
        async for item in self.client.follow_events(types=["unit", "reload", "job"]):
            self.on_stream_item(item)

    def on_stream_item(self, item: Any) -> None:
        """One item of the event stream: fold it, show what changed."""
        was_connected = self.view.connected
        changed = self.view.apply(item)
        if isinstance(item, Snapshot):
            for row_key in list(self.table.rows):
                if row_key.value not in self.view.units:
                    self.table.remove_row(row_key)
        for name in changed:
            self.table.show(self.view.units[name], self._clock())
        if isinstance(item, ReloadPhase) and item.phase == "build_failed":
            self.notify(item.detail.splitlines()[-1] if item.detail else "build failed",
                        title=f"{item.unit}: build failed, the old process keeps running",
                        severity="error")
        if isinstance(item, Connection):
            self._header()
            if item.connected and not was_connected and self.last_log_id is not None:
                self.follow_logs()  # the daemon came back: resume the lines after the last
        if changed or isinstance(item, Snapshot):
            self._header()
            self._problems()

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def follow_logs(self) -> None:
        assert self.client is not None
        units = [self.unit_filter] if self.unit_filter else None
        after = self.last_log_id
        pause = 0.2
        while True:
            try:
                if after is None:
                    page = await self.client.logs(units, limit=BACKLOG,
                                                  levels=self._levels_list())
                    self.logview.reset(LogRecord.from_dict(r) for r in page["lines"])
                    after = page["last_id"]
                    self.last_log_id = after
                read = 0
                async for item in self.client.follow_logs(units, after=after):
                    pause = 0.2
                    if item["type"] == "gap":
                        self.collapsed += int(item["missed"])
                        continue
                    # Not LogRecord.from_dict: it filters the keys through
                    # dataclasses.fields() for every line: a quarter of this loop at 10k lines/s.
                    record = LogRecord(item["id"], item["unit"], item["ts"], item["stream"],
                                       item["line"], item.get("level"))
                    after = self.last_log_id = record.id
                    if len(self.pending) == PENDING_CAP:
                        self.collapsed += 1
                    self.pending.append(record)
                    read += 1
                    if read % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            except DaemonError:
                pass  # the daemon went away: the event follower says so; try again
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _levels_list(self) -> list[str] | None:
        levels = LEVELS[self.level_index]
        return sorted(levels) if levels else None

    def _flush_logs(self) -> None:
        if not self.pending or self.history:
            self._logbar()
            return
        batch = list(self.pending)
        self.pending.clear()
        levels = LEVELS[self.level_index]
        if levels is not None:
            batch = [r for r in batch if r.level in levels]
        self.delivered += self.logview.write(batch)
        self._logbar()

    def _tick(self) -> None:
        self.table.tick(list(self.view.units.values()), self._clock())
        self.write_stats()

    def write_stats(self) -> None:
        """The log counters into the stats file, if one was asked for (benchmarks)."""
        if self._stats_file is not None:
            self._stats_file.write_text(json.dumps({"delivered": self.delivered,
                                                    "collapsed": self.collapsed}))

    # -- header, problems, log bar --------------------------------------------------------

    def _say_header(self, text: str) -> None:
        self.header_bar.say(Text(f" neodev · {text}", style="bold"))

    def _header(self) -> None:
        docker = self.view.docker_state()
        docker_style = {"ok": "green", "unreachable": "bold red"}.get(docker, "dim")
        daemon = "connected" if self.view.connected else self.view.connection_detail
        # The states first, the workspace after them (the line is cut at the edge, see the
        # stylesheet): a long path must not push the daemon's state out of a narrow terminal.
        text = Text(" neodev ", style="bold reverse")
        text.append(f" {self.profile} ", style="bold")
        text.append("· docker ")
        text.append(f"● {docker}", style=docker_style)
        text.append(" · daemon ")
        text.append(f"● {daemon}" if self.view.connected else f"✖ {daemon} (reconnecting)",
                    style="green" if self.view.connected else "bold red")
        text.append(f" · {shown_path(self.workspace)}")
        urls = self.telemetry.get("urls") or {}
        if urls.get("grafana"):
            text.append(f" · grafana {urls['grafana']}", style="dim")
        self.header_bar.say(text)

    def _problems(self) -> None:
        for problem in self.view.problems_to_tell():
            self.notify(problem.text, title=f"{problem.unit} failed", severity="error",
                        timeout=10)
        problems = self.view.problems()
        if problems:
            self._problem_text(" · ".join(f"{p.unit}: {p.text}" for p in problems))
        else:
            self._problem_text("")

    def _problem_text(self, text: str) -> None:
        self.problems_bar.display = bool(text)
        self.problems_bar.say(Text(f" ✖ {text}", style="bold red") if text else Text())

    def _logbar(self) -> None:
        parts = [f"logs · {self.unit_filter or 'all units'}"]
        if self.history:
            parts.append("history around a match (End: back to live)")
        elif self.logview.following:
            parts.append("following")
        else:
            parts.append(f"paused · {self.logview.new_lines} new lines (End resumes)")
        if self.level_index:
            parts.append(LEVEL_NAMES[self.level_index])
        if self.query_text:
            position = f"{self.match_index + 1}/{len(self.matches)}" if self.matches else "0/0"
            parts.append(f"search {self.query_text!r} {position}")
        if self.collapsed:
            parts.append(f"{self.collapsed} lines collapsed (too fast to show)")
        flags = [name for name, on_ in (("wrap", self.logview.wrap),
                                        ("timestamps", self.logview.timestamps)) if on_]
        if flags:
            parts.append(" ".join(flags))
        text = " " + " · ".join(parts)
        self.log_bar.say(Text(text, style="bold"))

    @on(LogView.Paused)
    def _paused(self) -> None:
        self._logbar()

    # -- actions on units -----------------------------------------------------------------

    def _selected(self) -> str | None:
        name = self.table.selected
        if name is None:
            self.notify("no unit selected", severity="warning")
        return name

    async def _call(self, coro: Any, what: str) -> Any:
        """Await an API call; its error becomes a notification (returns None then)."""
        try:
            return await coro
        except NeodevError as error:
            self.notify(error.message, title=f"{what}: {error.title}", severity="error",
                        timeout=10)
            return None

    def action_act(self, action: str) -> None:
        name = self._selected()
        if name is not None:
            self.act_on(name, action)

    @work(group="actions", exit_on_error=False)
    async def act_on(self, name: str, action: str) -> None:
        assert self.client is not None
        self.notify(f"{action} {name}…", timeout=2)
        result = await self._call(self.client.act(name, action), f"{action} {name}")
        if result is not None:
            record = result.get("unit") or {}
            reload = record.get("last_reload") or {}
            if action == "reload" and reload.get("outcome") == "build_failed":
                return  # the reload event's notification says it
            self.notify(f"{name}: {record.get('state', 'done')}", title=f"{action} {name}")

    @work(group="actions", exit_on_error=False)
    async def action_start_all(self) -> None:
        assert self.client is not None
        if await self._call(self.client.start(None), "start all") is not None:
            self.notify("starting every unit", title="start all")

    @work(group="actions", exit_on_error=False)
    async def action_stop_all(self) -> None:
        assert self.client is not None
        if await self._call(self.client.stop(None), "stop all") is not None:
            self.notify("every unit stopped (the daemon keeps running)", title="stop all")

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_details()

    @work(group="screens", exit_on_error=False)
    async def action_details(self) -> None:
        name = self._selected()
        if name is None or self.client is None:
            return
        details = await self._call(self.client.unit(name), f"details of {name}")
        if details is not None:
            await self.push_screen(DetailsScreen(details))

    def _url_of(self, name: str) -> str | None:
        urls = self.telemetry.get("urls") or {}
        if urls.get(name):
            return str(urls[name])
        record = self.view.units.get(name)
        if record is None or not record.endpoints:
            return None
        first = record.endpoints[0]
        return first if first.startswith("http") else f"http://{first.split('->')[0]}"

    @work(group="actions", exit_on_error=False)
    async def action_open_url(self) -> None:
        name = self._selected()
        if name is None:
            return
        url = self._url_of(name)
        if url is None:
            self.notify(f"{name} has no URL", severity="warning")
            return
        opened = await asyncio.to_thread(webbrowser.open, url)
        self.notify(url, title="opened in the browser" if opened else "no browser here: URL")

    @work(group="actions", exit_on_error=False)
    async def action_copy_connection(self) -> None:
        name = self._selected()
        if name is None or self.client is None:
            return
        found = await self._call(self.client.connection(name), f"connection of {name}")
        if not found or not found.get("value"):
            self.notify(f"{name} has nothing to connect to", severity="warning")
            return
        self.copy_to_clipboard(found["value"])
        what = "DSN (with the password)" if found["kind"] == "postgres" else "URL"
        self.notify(f"{name}'s {what} is on the clipboard", title="copied")

    @work(group="actions", exit_on_error=False)
    async def action_down_volumes(self) -> None:
        if self.client is None:
            return
        if not await self.push_screen_wait(ConfirmDown(self.volumes)):
            self.notify("nothing deleted", title="down --volumes")
            return
        report = await self._call(self.client.down(True), "down --volumes")
        if report is not None:
            deleted = ", ".join(report.get("volumes") or []) or "no volumes"
            self.exit_message = f"removed the environment; deleted {deleted}"
            self.exit(STOPPED)

    def action_quit_keep(self) -> None:
        self.exit_message = ("the environment keeps running: `neodev status` shows it, "
                             "`neodev stop` stops it, `neodev` comes back here")
        self.exit(KEPT)

    @work(group="actions", exit_on_error=False)
    async def action_quit_stop(self) -> None:
        if self.client is not None:
            await self._call(self.client.shutdown(), "stop everything")
        self.exit_message = "stopped every unit and the daemon"
        self.exit(STOPPED)

    def action_help(self) -> None:
        rows = []
        for active in self.active_bindings.values():
            binding = active.binding
            if binding.id and not binding.id.startswith(("details.", "help.", "confirm.")):
                rows.append((self.get_key_display(binding), binding.description, binding.id))
        self.push_screen(HelpScreen(sorted(rows, key=lambda r: r[2])))

    # -- log pane -------------------------------------------------------------------------

    def action_toggle_unit_filter(self) -> None:
        if self.unit_filter is None:
            name = self._selected()
            if name is None:
                return
            self.unit_filter = name
        else:
            self.unit_filter = None
        self._restart_logs()

    def action_cycle_level(self) -> None:
        self.level_index = (self.level_index + 1) % len(LEVELS)
        self._restart_logs()

    def _restart_logs(self) -> None:
        self.history = False
        self.pending.clear()
        self.last_log_id = None
        self.logview.following = True
        if self.client is not None:
            self.follow_logs()
        self._logbar()

    def action_toggle_wrap(self) -> None:
        self.logview.set_wrap(not self.logview.wrap)
        self._logbar()

    def action_toggle_timestamps(self) -> None:
        self.logview.set_timestamps(not self.logview.timestamps)
        self._logbar()

    def action_clear_logs(self) -> None:
        self.logview.clear()
        self._logbar()

    def action_fullscreen(self) -> None:
        self.screen.set_class(not self.screen.has_class("fullscreen-logs"), "fullscreen-logs")

    def action_copy_selection(self) -> None:
        text = self.screen.get_selected_text()
        if not text:
            rows = [r for r in self.logview.visible_text() if r]
            text = rows[-1] if rows else ""
        if text:
            self.copy_to_clipboard(text)
            self.notify(f"copied {len(text)} characters", title="copied")

    def action_follow(self) -> None:
        if self.history:
            self._restart_logs()
        self.logview.resume()
        self._logbar()

    def action_search(self) -> None:
        search = self.search_input
        search.display = True
        search.focus()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.search(event.value)

    def on_key(self, event: Any) -> None:
        search = self.search_input
        if event.key == "escape" and search.display:
            search.display = False
            self.logview.focus()
            event.stop()

    @work(group="search", exclusive=True, exit_on_error=False)
    async def search(self, text: str) -> None:
        """Search every retained line on the daemon; highlight and jump to the newest match."""
        self.query_text = text.strip()
        self.search_input.display = False
        self.logview.focus()
        if not self.query_text or self.client is None:
            self.matches = []
            self.logview.set_query(None)
            self._logbar()
            return
        units = [self.unit_filter] if self.unit_filter else None
        page = await self._call(self.client.logs(units, q=self.query_text, limit=SEARCH_LIMIT,
                                                 levels=self._levels_list()), "search")
        if page is None:
            return
        self.matches = [line["id"] for line in page["lines"]]
        pattern = re.compile(re.escape(self.query_text), re.IGNORECASE)
        if not self.matches:
            self.match_index = -1
            self.logview.set_query(pattern)
            self.notify(f"no retained line contains {self.query_text!r}", title="search")
            self._logbar()
            return
        self.match_index = len(self.matches) - 1
        await self._show_match(pattern)

    def action_next_match(self) -> None:
        self._step_match(+1)

    def action_previous_match(self) -> None:
        self._step_match(-1)

    def _step_match(self, step: int) -> None:
        if not self.matches:
            return
        self.match_index = (self.match_index + step) % len(self.matches)
        self.show_match()

    @work(group="search", exclusive=True, exit_on_error=False)
    async def show_match(self) -> None:
        await self._show_match(re.compile(re.escape(self.query_text), re.IGNORECASE))

    async def _show_match(self, pattern: re.Pattern[str]) -> None:
        target = self.matches[self.match_index]
        self.logview.set_query(pattern, target)
        if not self.logview.contains(target) and self.client is not None:
            # Beyond what the pane holds: show the lines around it, from the daemon.
            units = [self.unit_filter] if self.unit_filter else None
            before = await self._call(self.client.logs(units, before=target + 1, limit=100),
                                      "search")
            after = await self._call(self.client.logs(units, after=target, limit=100),
                                     "search")
            if before is None or after is None:
                return
            self.history = True
            self.logview.following = False
            self.logview.reset(LogRecord.from_dict(r)
                               for r in before["lines"] + after["lines"])
        self.logview.scroll_to_record(target)
        self._logbar()

    # -- command palette ------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Start all units", "start everything", self.action_start_all)
        yield SystemCommand("Stop all units", "stop every unit, keep the daemon",
                            self.action_stop_all)
        yield SystemCommand("Down and delete volumes", "asks first, lists the volumes",
                            self.action_down_volumes)
        yield SystemCommand("Quit, keep running", "leave the environment running",
                            self.action_quit_keep)
        yield SystemCommand("Stop everything and quit", "stop all units and the daemon",
                            self.action_quit_stop)
        for name in self.view.units:
            for action in ("start", "stop", "restart", "reload"):
                yield SystemCommand(f"{action.capitalize()} {name}", f"{action} the unit",
                                    lambda n=name, a=action: self.act_on(n, a))
            yield SystemCommand(f"Details of {name}", "everything about the unit",
                                lambda n=name: self._details_of(n))

    def _details_of(self, name: str) -> None:
        if name in self.table.rows:
            self.table.move_cursor(row=self.table.get_row_index(name))
        self.action_details()


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


def run_dashboard(paths: WorkspacePaths, profile: str) -> str:
    """Run the dashboard in this terminal; returns what to say when it ended."""
    tune_gc()
    stats = os.environ.get(STATS_ENV)
    app = NeodevApp(paths, profile, stats_file=Path(stats) if stats else None)
    app.run()
    app.write_stats()
    return app.exit_message
