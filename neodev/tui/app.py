"""`neodev`: the dashboard, a Textual app that is a client of the daemon and nothing else.

It finds the workspace's daemon or starts one (and with it the environment), renders the event
stream — never polling `/v1/status` — and acts through the API. Three async workers do the
talking: the connection (spawn/attach), the event follower (it reconnects by itself and the
header says so), and the log pane's follower (`logpane.py`: lines are buffered and flushed on
a timer, so a flood of output costs one repaint per tick, not one per line). Actions run as
workers too; their errors become notifications, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import time
import webbrowser
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from neodev.client import Connection, Launched, calls, ensure_daemon
from neodev.client.wire import AsyncClient
from neodev.errors import NeodevError
from neodev.instances.registry import Registry
from neodev.paths import WorkspacePaths
from neodev.protocol.documents import InstanceInfo, Telemetry
from neodev.protocol.events import Event, ReloadPhase, Snapshot
from neodev.statefile import write_private
from neodev.tui.bar import Bar, header_text
from neodev.tui.instances import InstancesScreen, instance_rows
from neodev.tui.keymap import KEYS, load_keymap
from neodev.tui.logpane import LogPane
from neodev.tui.screens import ConfirmDown, DetailsScreen, HelpScreen
from neodev.tui.units import UnitsTable
from neodev.tui.view import EnvironmentView

R = TypeVar("R")
KEPT = "kept"
STOPPED = "stopped"

Ensure = Callable[[WorkspacePaths, str], Launched]
Connect = Callable[[Path], AsyncClient]


def _ensure(paths: WorkspacePaths, profile: str) -> Launched:
    return ensure_daemon(paths, profile, validate=True)


def _connect(socket: Path) -> AsyncClient:
    from neodev.client.aio import AsyncDaemonClient

    return AsyncDaemonClient(socket)


class NeodevApp(App[str | None]):
    """The dashboard of one workspace's environment."""

    CSS_PATH = "neodev.tcss"
    TITLE = "neodev"
    BINDINGS: ClassVar[list[BindingType]] = list(KEYS)

    def __init__(self, paths: WorkspacePaths, profile: str = "local", *,
                 client: AsyncClient | None = None, ensure: Ensure = _ensure,
                 connect: Connect = _connect, clock: Callable[[], float] = time.time,
                 keymap: Path | None = None, log_capacity: int = 10_000,
                 stats_file: Path | None = None, report: str | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.profile = profile
        self.client = client
        self._ensure = ensure
        self._connect = connect
        self._clock = clock
        self._keymap_file = keymap
        self._stats_file = stats_file
        self.view = EnvironmentView()
        self.table = UnitsTable(self.view.sparkline, id="units")
        self.logpane = LogPane(log_capacity, id="logpane")
        self.logview = self.logpane.logview
        # Held, not queried: a query looks at the active screen, and a modal (help, details)
        # may be on top when an event or the flush timer updates these (or, after quit, the
        # screen's widgets are already gone).
        self.header_bar = Bar(id="header")
        self.problems_bar = Bar(id="problems", one_line=False)
        self.telemetry = Telemetry()
        self.instance = InstanceInfo()
        self.volumes: list[str] = []
        self.workspace = str(paths.root)
        self.exit_message = ""
        self.report = report
        """What the header says when `client` answers from a report (read-only)."""

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header_bar
        yield self.table
        yield Static(self._actions_bar(), id="actions")
        yield self.problems_bar
        yield self.logpane
        yield Footer()

    def _actions_bar(self) -> Text:
        return Text.from_markup(
            " [@click=app.act('start')]start[/] · [@click=app.act('stop')]stop[/] · "
            "[@click=app.act('restart')]restart[/] · [@click=app.act('reload')]reload[/] · "
            "[@click=app.details]details[/] · [@click=app.open_url]open[/] · "
            "[@click=app.copy_connection]copy DSN[/] · [@click=app.start_all]start all[/] · "
            "[@click=app.stop_all]stop all[/] · [@click=app.help]help[/]")

    async def on_mount(self) -> None:
        self._apply_keymap()
        self._header()
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
            self.client = self._connect(launched.socket)
            for warning in launched.warnings:
                self.notify(warning, title="Warning", severity="warning")
            if launched.generated:
                self.notify(f"generated {', '.join(launched.generated)} into "
                            f"{launched.secrets_file}", title="Secrets")
            if launched.fresh:
                await self._call(self.client.call(calls.start()), "start")
        status = await self._call(self.client.call(calls.status()), "status")
        if status is not None:
            self.telemetry, self.instance = status.telemetry, status.instance_info
            self.volumes = list(status.volumes)
            self.workspace = status.workspace or self.workspace
            self.profile = status.profile or self.profile
        self.follow_events()
        self.logpane.start(self.client)

    @work(group="events", exclusive=True, exit_on_error=False)
    async def follow_events(self) -> None:
        assert self.client is not None
        async for item in self.client.follow_events(types=["unit", "reload", "job"]):
            self.on_stream_item(item)

    def on_stream_item(self, item: Event | Connection) -> None:
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
            if item.connected and not was_connected and self.logpane.last_log_id is not None:
                self.logpane.follow()  # the daemon came back: resume after the last line
        if changed or isinstance(item, Snapshot):
            self._header()
            self._problems()

    def _tick(self) -> None:
        self.table.tick(list(self.view.units.values()), self._clock())
        self.write_stats()

    def write_stats(self) -> None:
        """The log counters into the stats file, if one was asked for (benchmarks)."""
        if self._stats_file is not None:
            write_private(self._stats_file, json.dumps({"delivered": self.logpane.delivered,
                                                        "collapsed": self.logpane.collapsed}))

    # -- header and problems --------------------------------------------------------------

    def _say_header(self, text: str) -> None:
        self.header_bar.say(Text(f" neodev · {text}", style="bold"))

    def _header(self) -> None:
        self.header_bar.say(header_text(self.view, self.profile, self.workspace,
                                        self.telemetry.urls.get("grafana"), self.instance,
                                        self.report))

    def _problems(self) -> None:
        for problem in self.view.problems_to_tell():
            self.notify(problem.text, title=f"{problem.unit} failed", severity="error",
                        timeout=10)
        problems = self.view.problems()
        self._problem_text(" · ".join(f"{p.unit}: {p.text}" for p in problems))

    def _problem_text(self, text: str) -> None:
        self.problems_bar.display = bool(text)
        self.problems_bar.say(Text(f" ✖ {text}", style="bold red") if text else Text())

    # -- actions on units -----------------------------------------------------------------

    def _selected(self) -> str | None:
        name = self.table.selected
        if name is None:
            self.notify("no unit selected", severity="warning")
        return name

    async def _call(self, call: Awaitable[R], what: str) -> R | None:
        """Await an API call; its error becomes a notification (returns None then)."""
        try:
            return await call
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
        result = await self._call(self.client.call(calls.act(name, action)), f"{action} {name}")
        if result is None:
            return
        reload = result.unit.last_reload
        if action == "reload" and reload is not None and reload.outcome == "build_failed":
            return  # the reload event's notification says it
        self.notify(f"{name}: {result.unit.state}", title=f"{action} {name}")

    @work(group="actions", exit_on_error=False)
    async def action_start_all(self) -> None:
        assert self.client is not None
        if await self._call(self.client.call(calls.start()), "start all") is not None:
            self.notify("starting every unit", title="start all")

    @work(group="actions", exit_on_error=False)
    async def action_stop_all(self) -> None:
        assert self.client is not None
        if await self._call(self.client.call(calls.stop()), "stop all") is not None:
            self.notify("every unit stopped (the daemon keeps running)", title="stop all")

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_details()

    @work(group="screens", exit_on_error=False)
    async def action_details(self) -> None:
        name = self._selected()
        if name is None or self.client is None:
            return
        details = await self._call(self.client.call(calls.unit(name)), f"details of {name}")
        if details is not None:
            await self.push_screen(DetailsScreen(details))

    def _url_of(self, name: str) -> str | None:
        if self.telemetry.urls.get(name):
            return self.telemetry.urls[name]
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
        found = await self._call(self.client.call(calls.connection(name)),
                                 f"connection of {name}")
        if found is None or not found.value:
            self.notify(f"{name} has nothing to connect to", severity="warning")
            return
        self.copy_to_clipboard(found.value)
        what = "DSN (with the password)" if found.kind == "postgres" else "URL"
        self.notify(f"{name}'s {what} is on the clipboard", title="copied")

    @work(group="actions", exit_on_error=False)
    async def action_down_volumes(self) -> None:
        if self.client is None:
            return
        if not await self.push_screen_wait(ConfirmDown(self.volumes)):
            self.notify("nothing deleted", title="down --volumes")
            return
        report = await self._call(self.client.call(calls.down(True)), "down --volumes")
        if report is not None:
            deleted = ", ".join(report.volumes) or "no volumes"
            self.exit_message = f"removed the environment; deleted {deleted}"
            self.exit(STOPPED)

    def action_quit_keep(self) -> None:
        self.exit_message = "" if self.report else (
            "the environment keeps running: `neodev status` shows it, `neodev stop` stops it, "
            "`neodev` comes back here")
        self.exit(KEPT)

    @work(group="actions", exit_on_error=False)
    async def action_quit_stop(self) -> None:
        if self.client is not None:
            await self._call(self.client.call(calls.shutdown()), "stop everything")
        self.exit_message = "stopped every unit and the daemon"
        self.exit(STOPPED)

    def action_instances(self) -> None:
        rows = instance_rows(Registry.of_machine(), self.instance.name)
        self.push_screen(InstancesScreen(rows))

    def action_help(self) -> None:
        rows = []
        for active in self.active_bindings.values():
            binding = active.binding
            if binding.id and not binding.id.startswith(("details.", "help.", "confirm.")):
                rows.append((self.get_key_display(binding), binding.description, binding.id))
        self.push_screen(HelpScreen(sorted(rows, key=lambda r: r[2])))

    # -- the log pane (its keys are the app's, so they can be remapped by id) -------------

    def action_toggle_unit_filter(self) -> None:
        if self.logpane.unit_filter is not None:
            self.logpane.filter_unit(None)
            return
        name = self._selected()
        if name is not None:
            self.logpane.filter_unit(name)

    def action_cycle_level(self) -> None:
        self.logpane.cycle_level()

    def action_toggle_probes(self) -> None:
        self.logpane.toggle_probes()

    def action_toggle_wrap(self) -> None:
        self.logpane.toggle_wrap()

    def action_toggle_timestamps(self) -> None:
        self.logpane.toggle_timestamps()

    def action_clear_logs(self) -> None:
        self.logpane.clear()

    def action_fullscreen(self) -> None:
        self.screen.set_class(not self.screen.has_class("fullscreen-logs"), "fullscreen-logs")

    def action_copy_selection(self) -> None:
        text = self.screen.get_selected_text() or self.logpane.last_visible_line()
        if text:
            self.copy_to_clipboard(text)
            self.notify(f"copied {len(text)} characters", title="copied")

    def action_follow(self) -> None:
        self.logpane.resume()

    def action_search(self) -> None:
        self.logpane.open_search()

    def action_next_match(self) -> None:
        self.logpane.step_match(+1)

    def action_previous_match(self) -> None:
        self.logpane.step_match(-1)

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and self.logpane.close_search():
            event.stop()

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
