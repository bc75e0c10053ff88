"""The log pane: a bounded ring of records, rendered line by line, only what is on screen.

Textual's `Log` starts a worker per write and `RichLog` renders every write at once
(reference §5); under a flood of output both fall behind. This widget keeps the last `capacity`
records, is written to in batches (the app flushes on a timer), and renders a row only when
Textual asks for it (the Line API), caching the rendered rows. It follows the newest line
until the person scrolls up — then it counts the lines that arrive meanwhile — and `End`
resumes. Rows are the lines themselves, or, with wrapping on, the lines cut at the width.
ANSI colours in the output are rendered; a level's lines stand out (errors red, warnings
yellow); search matches are highlighted, the current one more.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from itertools import accumulate

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from neodev.protocol import LogRecord

UNIT_COLORS = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow",
               "bright_green", "bright_magenta", "bright_blue")
LEVEL_STYLES = {"error": Style(color="red", bold=True), "warn": Style(color="yellow")}
MATCH = Style(bgcolor="yellow", color="black")
CURRENT_MATCH = Style(bgcolor="dark_orange", color="black", bold=True)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
RENDER_CHUNK = 1024
"""Without wrapping, a line is rendered only as far as the pane shows it, rounded up to this
many characters: a 16 KiB line costs its visible part on a repaint, not all of it."""
ANSI_SLACK = 4
"""A line with escape codes is cut at this many times the visible length before decoding
(codes take room; a line that needs more shows blank beyond the cut)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")


def unit_style(unit: str) -> Style:
    """The stable colour of a unit's prefix (the same hash as `neodev logs` uses)."""
    return Style(color=UNIT_COLORS[zlib.crc32(unit.encode()) % len(UNIT_COLORS)])


def plain(line: str) -> str:
    """What a person reads of a line: escapes removed, tabs expanded, controls shown."""
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    return _CONTROL.sub("�", line.expandtabs())


def width_of(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


class LogView(ScrollView, can_focus=True):
    """A log pane over a bounded ring of `LogRecord`s."""

    ALLOW_SELECT = True
    DEFAULT_CSS = """
    LogView { background: $surface; overflow: scroll; }
    LogView:focus { background-tint: $foreground 5%; }
    """

    class Paused(Message):
        """Following stopped (the person scrolled up) or resumed."""

        def __init__(self, following: bool, new_lines: int) -> None:
            self.following = following
            self.new_lines = new_lines
            super().__init__()

    def __init__(self, capacity: int = 10_000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.capacity = capacity
        self.records: deque[LogRecord] = deque(maxlen=capacity)
        self.following = True
        self.new_lines = 0
        """Lines that arrived while not following."""
        self.wrap = False
        self.timestamps = False
        self.prefix_width = 8
        self._query: re.Pattern[str] | None = None
        self.current_match: int | None = None
        """Id of the match the search is on."""
        self._widths: deque[int] = deque(maxlen=capacity)
        self._max_width = 0
        self._rows: list[int] = []
        """Cumulative row counts (wrap mode); recomputed when lines or the width change."""
        self._rows_dirty = True
        self._cache: LRUCache[tuple[int, int, int, int], list[Strip]] = LRUCache(2048)
        self._version = 0
        self._pass: tuple[Offset, int, Style] | None = None
        """Scroll offset, width and style during one `render_lines` pass."""

    # -- content --------------------------------------------------------------------------

    def write(self, records: Iterable[LogRecord]) -> int:
        """Append a batch; returns how many were added. Follows the end unless paused."""
        added = 0
        for record in records:
            self.records.append(record)
            text = plain(record.line)
            self._widths.append(width_of(text))
            self._max_width = max(self._max_width, self._widths[-1])
            self.prefix_width = max(self.prefix_width, len(record.unit))
            added += 1
        if not added:
            return 0
        self._rows_dirty = True
        if not self.following:
            self.new_lines += added
            self.post_message(self.Paused(False, self.new_lines))
        self._update_size()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        return added

    def reset(self, records: Iterable[LogRecord]) -> None:
        """Replace everything shown (a filter changed, or a search jumped into history)."""
        self.records.clear()
        self._widths.clear()
        self._max_width = 0
        self._cache.clear()
        self._version += 1
        self.write(records)
        if not self.records:
            self._update_size()
            self.refresh()

    def clear(self) -> None:
        self.reset(())

    def contains(self, record_id: int) -> bool:
        return bool(self.records) and self.records[0].id <= record_id <= self.records[-1].id

    # -- display options ------------------------------------------------------------------

    def set_wrap(self, wrap: bool) -> None:
        self.wrap = wrap
        self._restyle()

    def set_timestamps(self, shown: bool) -> None:
        self.timestamps = shown
        self._restyle()

    def set_query(self, pattern: re.Pattern[str] | None, current: int | None = None) -> None:
        """Highlight matches of `pattern` (None: no search), `current` the id to stand out."""
        self._query = pattern
        self.current_match = current
        self._cache.clear()
        self._version += 1
        self.refresh()

    def _restyle(self) -> None:
        self._cache.clear()
        self._version += 1
        self._rows_dirty = True
        self._update_size()
        self.refresh()

    # -- following ------------------------------------------------------------------------

    def resume(self) -> None:
        """Follow the newest line again (End)."""
        self.following = True
        self.new_lines = 0
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.Paused(True, 0))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        at_end = new >= self.max_scroll_y - 0.5
        if self.following and not at_end and new < old:
            self.following = False
            self.post_message(self.Paused(False, self.new_lines))
        elif not self.following and at_end and new > old:
            self.resume()

    def scroll_to_record(self, record_id: int) -> bool:
        """Bring a record into view (pausing the follow); False when it is not held."""
        index = next((i for i, r in enumerate(self.records) if r.id == record_id), None)
        if index is None:
            return False
        self.following = False
        self.post_message(self.Paused(False, self.new_lines))
        row = self._row_of(index)
        self.scroll_to(y=max(row - self.size.height // 2, 0), animate=False, immediate=True)
        self.refresh()
        return True

    # -- geometry -------------------------------------------------------------------------

    def _prefix(self) -> int:
        return self.prefix_width + 3 + (13 if self.timestamps else 0)

    def _content_width(self) -> int:
        return max(self.size.width - 1, 10)

    def _row_counts(self) -> list[int]:
        if self._rows_dirty:
            width = self._content_width()
            prefix = self._prefix()
            counts = (max(1, math.ceil((w + prefix) / width)) for w in self._widths)
            self._rows = list(accumulate(counts))
            self._rows_dirty = False
        return self._rows

    def _update_size(self) -> None:
        if self.wrap:
            rows = self._row_counts()
            self.virtual_size = Size(self._content_width(), rows[-1] if rows else 0)
        else:
            self.virtual_size = Size(self._max_width + self._prefix(), len(self.records))

    def on_resize(self) -> None:
        if self.wrap:
            self._restyle()

    def _row_of(self, index: int) -> int:
        if not self.wrap:
            return index
        rows = self._row_counts()
        return rows[index - 1] if index else 0

    def _locate(self, row: int) -> tuple[int, int] | None:
        """(record index, row within the record) for a content row."""
        if not self.wrap:
            return (row, 0) if row < len(self.records) else None
        rows = self._row_counts()
        if not rows or row >= rows[-1]:
            return None
        lo, hi = 0, len(rows) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if rows[mid] > row:
                hi = mid
            else:
                lo = mid + 1
        start = rows[lo - 1] if lo else 0
        return lo, row - start

    # -- rendering ------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every row of this pass shares, looked up once (each is a computed property,
        # and the style walks the CSS: a tenth of a repaint when asked per row).
        self._pass = (self.scroll_offset, self.size.width, self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        (scroll_x, scroll_y), width, style = self._pass or (
            self.scroll_offset, self.size.width, self.rich_style)
        row = scroll_y + y
        found = self._locate(row)
        if found is None:
            return Strip.blank(width, style)
        index, part = found
        record = self.records[index]
        strips = self._strips(record, scroll_x + width)
        strip = strips[min(part, len(strips) - 1)]
        if self.wrap:
            strip = strip.extend_cell_length(width, style).crop(0, width)
        else:
            strip = strip.crop_extend(scroll_x, scroll_x + width, style)
        return strip.apply_offsets(scroll_x, row)

    def _strips(self, record: LogRecord, reach: int) -> list[Strip]:
        """The record's rows; without wrapping, rendered far enough to show `reach` cells."""
        limit = None if self.wrap else RENDER_CHUNK * (reach // RENDER_CHUNK + 1)
        key = (record.id, self._version, self._content_width() if self.wrap else 0, limit or 0)
        cached = self._cache.get(key)
        if cached is not None and self.text_selection is None:
            return cached
        text = self._text(record, limit)
        strip = Strip(text.render(self.app.console), text.cell_len)
        if self.wrap:
            width = self._content_width()
            cuts = range(width, max(strip.cell_length, 1), width)
            strips = list(strip.divide([*cuts, strip.cell_length])) or [strip]
        else:
            strips = [strip]
        self._cache[key] = strips
        return strips

    def _text(self, record: LogRecord, limit: int | None = None) -> Text:
        """The row's text: prefix, level style, search highlights; the line cut near `limit`
        characters when given (what lies beyond is off screen)."""
        line = record.line
        if limit is not None and len(line) > limit:
            line = line[:limit * ANSI_SLACK] if "\x1b" in line else line[:limit]
        text = Text(no_wrap=True, end="")
        text.append(f"{record.unit:<{self.prefix_width}} | ", unit_style(record.unit))
        if self.timestamps:
            stamp = datetime.fromtimestamp(record.ts).strftime("%H:%M:%S.%f")[:-3]
            text.append(f"{stamp} ", Style(dim=True))
        body = Text.from_ansi(line.expandtabs(), no_wrap=True, end="") \
            if "\x1b" in line else Text(_CONTROL.sub("�", line.expandtabs()))
        style = LEVEL_STYLES.get(record.level or "")
        if style is not None:
            body.stylize(style)
        if self._query is not None:
            highlight = CURRENT_MATCH if record.id == self.current_match else MATCH
            for match in self._query.finditer(body.plain):
                if match.end() > match.start():
                    body.stylize(highlight, match.start(), match.end())
        text.append_text(body)
        return text

    # -- selection (copy) ------------------------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        rows: list[str] = []
        for record in self.records:
            line = self._text(record).plain
            if self.wrap:
                width = self._content_width()
                rows.extend(line[i:i + width] for i in range(0, max(len(line), 1), width))
            else:
                rows.append(line)
        return selection.extract("\n".join(rows)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self._cache.clear()
        self.refresh()

    def visible_text(self) -> list[str]:
        """The rows on screen as plain text (tests, and copying the view)."""
        return ["".join(segment.text for segment in self.render_line(y)).rstrip()
                for y in range(self.size.height)]
