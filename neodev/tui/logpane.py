"""The dashboard's log pane: its bar, the lines, the search box, and the follower behind them.

It follows the daemon's lines on a worker (reading straight from the stream, yielding every
`YIELD_EVERY` lines so key presses and repaints interleave), buffers them and flushes to the
`LogView` on a timer — a flood costs one repaint per tick, and lines beyond what can be shown
are collapsed and counted. It filters by unit and level — and hides the lines that answer
neodev's own probes unless asked (the daemon marks them) —, searches everything the daemon retains
and jumps around a match, and says in its bar what it shows. The app owns the key bindings and
calls these methods; the pane talks to the daemon only through the client it is given.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from neodev.client import calls
from neodev.client.wire import AsyncClient
from neodev.errors import DaemonError, NeodevError
from neodev.protocol.endpoints import Request
from neodev.protocol.logs import LogGap, LogPage, LogRecord
from neodev.timing import Backoff
from neodev.tui.bar import Bar
from neodev.tui.logview import LogView

BACKLOG = 500
"""Lines fetched when the pane (re)starts, before following."""
PENDING_CAP = 20_000
"""Lines buffered between two flushes at most; beyond, the oldest are collapsed (counted)."""
FLUSH_SECONDS = 0.1
YIELD_EVERY = 200
"""Lines the follower reads before it lets other work (a key press, a repaint) run: one
chunk of the stream holds hundreds of lines, and reading them costs no await."""
LEVELS: tuple[frozenset[str] | None, ...] = (None, frozenset({"warn", "error"}),
                                             frozenset({"error"}))
LEVEL_NAMES = ("all levels", "warnings and errors", "errors")
SEARCH_LIMIT = 1000
RECONNECT = Backoff(0.2, 2.0)
"""Pauses before following again after the daemon went away."""
CONTEXT_LINES = 100
"""Lines shown on each side of a match beyond what the pane holds."""


class LogPane(Vertical):
    """The log bar, the lines and the search box, with the follower that fills them."""

    def __init__(self, capacity: int = 10_000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.client: AsyncClient | None = None
        self.logview = LogView(capacity, id="logs")
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
        self.probes = False
        """Show the lines that answer neodev's own probes (an app's `GET /health 200` every
        second): hidden by default, they bury what the app says."""
        self.history = False
        """Showing lines around a search match instead of following."""
        self.matches: list[int] = []
        self.match_index = -1
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield self.log_bar
        yield self.logview
        yield self.search_input

    def on_mount(self) -> None:
        self.search_input.display = False
        self.say()
        self.set_interval(FLUSH_SECONDS, self.flush)

    def start(self, client: AsyncClient) -> None:
        """Follow the lines of `client`'s daemon (again, after it came back)."""
        self.client = client
        self.follow()

    # -- following ------------------------------------------------------------------------

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def follow(self) -> None:
        assert self.client is not None
        units = self._units()
        after = self.last_log_id
        attempts = 0
        while True:
            try:
                if after is None:
                    page = await self.client.call(calls.logs(units, limit=BACKLOG,
                                                             levels=self._levels(),
                                                             probes=self.probes))
                    self.logview.reset(page.lines)
                    after = self.last_log_id = page.last_id
                read = 0
                async for item in self.client.stream(calls.follow_logs(
                        units, after=after, probes=self.probes)):
                    attempts = 0
                    if isinstance(item, LogGap):
                        self.collapsed += item.missed
                        continue
                    after = self.last_log_id = item.id
                    if len(self.pending) == PENDING_CAP:
                        self.collapsed += 1
                    self.pending.append(item)
                    read += 1
                    if read % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            except DaemonError:
                pass  # the daemon went away: the event follower says so; try again
            await asyncio.sleep(RECONNECT.delay(attempts))
            attempts += 1

    def flush(self) -> None:
        if not self.pending or self.history:
            self.say()
            return
        batch = list(self.pending)
        self.pending.clear()
        levels = LEVELS[self.level_index]
        if levels is not None:
            batch = [r for r in batch if r.level in levels]
        self.delivered += self.logview.write(batch)
        self.say()

    def restart(self) -> None:
        """Start over from the newest lines (a filter changed, or back from history)."""
        self.history = False
        self.pending.clear()
        self.last_log_id = None
        self.logview.following = True
        if self.client is not None:
            self.follow()
        self.say()

    def _units(self) -> list[str] | None:
        return [self.unit_filter] if self.unit_filter else None

    def _levels(self) -> list[str] | None:
        levels = LEVELS[self.level_index]
        return sorted(levels) if levels else None

    # -- what it shows --------------------------------------------------------------------

    def filter_unit(self, name: str | None) -> None:
        """Show only `name`'s lines (None: every unit's)."""
        self.unit_filter = name
        self.restart()

    def cycle_level(self) -> None:
        self.level_index = (self.level_index + 1) % len(LEVELS)
        self.restart()

    def toggle_probes(self) -> None:
        """Show or hide the lines that answer neodev's own probes."""
        self.probes = not self.probes
        self.restart()

    def toggle_wrap(self) -> None:
        self.logview.set_wrap(not self.logview.wrap)
        self.say()

    def toggle_timestamps(self) -> None:
        self.logview.set_timestamps(not self.logview.timestamps)
        self.say()

    def clear(self) -> None:
        self.logview.clear()
        self.say()

    def resume(self) -> None:
        """Follow the newest lines again (End)."""
        if self.history:
            self.restart()
        self.logview.resume()
        self.say()

    def last_visible_line(self) -> str:
        rows = [r for r in self.logview.visible_text() if r]
        return rows[-1] if rows else ""

    @on(LogView.Paused)
    def _paused(self) -> None:
        self.say()

    def say(self) -> None:
        """The log bar: which lines, following or not, filters, search, collapsed lines."""
        parts = [f"logs · {self.unit_filter or 'all units'}"]
        if self.history:
            parts.append("history around a match (End: back to live)")
        elif self.logview.following:
            parts.append("following")
        else:
            parts.append(f"paused · {self.logview.new_lines} new lines (End resumes)")
        if self.level_index:
            parts.append(LEVEL_NAMES[self.level_index])
        if self.probes:
            parts.append("with probe lines")
        if self.query_text:
            position = f"{self.match_index + 1}/{len(self.matches)}" if self.matches else "0/0"
            parts.append(f"search {self.query_text!r} {position}")
        if self.collapsed:
            parts.append(f"{self.collapsed} lines collapsed (too fast to show)")
        flags = [name for name, on_ in (("wrap", self.logview.wrap),
                                        ("timestamps", self.logview.timestamps)) if on_]
        if flags:
            parts.append(" ".join(flags))
        self.log_bar.say(Text(" " + " · ".join(parts), style="bold"))

    # -- search ---------------------------------------------------------------------------

    def open_search(self) -> None:
        self.search_input.display = True
        self.search_input.focus()

    def close_search(self) -> bool:
        """Close the search box if it is open (Escape); whether it was."""
        if not self.search_input.display:
            return False
        self.search_input.display = False
        self.logview.focus()
        return True

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.search(event.value)

    @work(group="search", exclusive=True, exit_on_error=False)
    async def search(self, text: str) -> None:
        """Search every retained line on the daemon; highlight and jump to the newest match."""
        self.query_text = text.strip()
        self.search_input.display = False
        self.logview.focus()
        if not self.query_text or self.client is None:
            self.matches = []
            self.logview.set_query(None)
            self.say()
            return
        page = await self._ask(calls.logs(self._units(), q=self.query_text, limit=SEARCH_LIMIT,
                                          levels=self._levels(), probes=self.probes))
        if page is None:
            return
        self.matches = [line.id for line in page.lines]
        pattern = self._pattern()
        if not self.matches:
            self.match_index = -1
            self.logview.set_query(pattern)
            self.app.notify(f"no retained line contains {self.query_text!r}", title="search")
            self.say()
            return
        self.match_index = len(self.matches) - 1
        await self._show_match(pattern)

    def step_match(self, step: int) -> None:
        """The next (+1) or previous (-1) match."""
        if not self.matches:
            return
        self.match_index = (self.match_index + step) % len(self.matches)
        self.show_match()

    @work(group="search", exclusive=True, exit_on_error=False)
    async def show_match(self) -> None:
        await self._show_match(self._pattern())

    def _pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.query_text), re.IGNORECASE)

    async def _show_match(self, pattern: re.Pattern[str]) -> None:
        target = self.matches[self.match_index]
        self.logview.set_query(pattern, target)
        if not self.logview.contains(target) and self.client is not None:
            # Beyond what the pane holds: show the lines around it, from the daemon.
            units = self._units()
            before = await self._ask(calls.logs(units, before=target + 1, limit=CONTEXT_LINES,
                                                probes=self.probes))
            after = await self._ask(calls.logs(units, after=target, limit=CONTEXT_LINES,
                                               probes=self.probes))
            if before is None or after is None:
                return
            self.history = True
            self.logview.following = False
            self.logview.reset(before.lines + after.lines)
        self.logview.scroll_to_record(target)
        self.say()

    async def _ask(self, request: Request[LogPage]) -> LogPage | None:
        """A page from the daemon; an error becomes a notification (None then)."""
        assert self.client is not None
        try:
            return await self.client.call(request)
        except NeodevError as error:
            self.app.notify(error.message, title=f"search: {error.title}", severity="error",
                            timeout=10)
            return None
