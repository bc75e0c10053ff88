"""The dashboard's bars: set on every event, redrawn only when what they say changes."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult

from neodev.tui.bar import Bar


class CountingBar(Bar):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.updates = 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.updates += 1
        super().update(*args, **kwargs)


class OneBar(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.bar = CountingBar(id="bar")

    def compose(self) -> ComposeResult:
        yield self.bar


async def test_a_bar_redraws_only_when_its_text_or_style_changes() -> None:
    app = OneBar()
    async with app.run_test(size=(40, 5)):
        app.bar.say(Text("docker ● ok", style="bold"))
        app.bar.say(Text("docker ● ok", style="bold"))
        assert app.bar.updates == 1
        app.bar.say(Text("docker ● ok", style="bold red"))  # the style alone changed
        assert app.bar.updates == 2
        app.bar.say(Text("docker ● unreachable", style="bold red"))
        assert app.bar.updates == 3
        assert "unreachable" in str(app.bar.render())
