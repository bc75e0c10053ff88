"""The log pane on its own: long lines are drawn only as far as the screen shows them, yet
every part of them is there when scrolled to."""

from __future__ import annotations

from textual.app import App, ComposeResult

from neodev.protocol import LogRecord
from neodev.tui.logview import RENDER_CHUNK, LogView

LONG = "".join(f"{i:07d}|" for i in range(2_500))  # 20,000 characters, each place readable


class PaneApp(App[None]):
    """Only the pane."""

    def compose(self) -> ComposeResult:
        yield LogView(100, id="logs")


def record(i: int, line: str, level: str | None = None) -> LogRecord:
    return LogRecord(i, "api", 0.0, "stdout", line, level)


async def test_a_long_line_shows_whatever_part_is_scrolled_to() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 10)) as pilot:
        pane = app.query_one(LogView)
        pane.write([record(1, "short"), record(2, LONG), record(3, "\x1b[31mred\x1b[0m " + LONG)])
        await pilot.pause()
        rows = pane.visible_text()
        assert rows[0] == "api      | short"
        assert rows[1].startswith("api      | 0000000|0000001|")
        assert rows[2].startswith("api      | red 0000000|")
        assert pane.virtual_size.width >= len(LONG)
        for wanted in (RENDER_CHUNK - 40, 3 * RENDER_CHUNK + 5, len(LONG)):
            pane.scroll_to(x=wanted, animate=False, immediate=True)
            await pilot.pause()
            x = pane.scroll_offset.x  # the end is as far as it scrolls
            assert x > 0
            shown = pane.visible_text()[1]
            assert shown == (("api      | " + LONG)[x:x + pane.size.width]).rstrip(), x
            # The line with colour codes is cut before decoding, but with room to spare.
            assert pane.visible_text()[2] == (("api      | red " + LONG)[x:x + pane.size.width]
                                              ).rstrip(), x
