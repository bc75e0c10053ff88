"""The dashboard's bars (header, problems, logs): redrawn only on a change; the header's text."""

from __future__ import annotations

import os

from rich.text import Text
from textual.widgets import Static

from neodev.present import port_span
from neodev.protocol.documents import InstanceInfo
from neodev.tui.view import EnvironmentView


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


def header_text(view: EnvironmentView, profile: str, workspace: str,
                grafana: str | None, instance: InstanceInfo | None = None,
                report: str | None = None) -> Text:
    """The header: the instance (its name as the badge), the profile, Docker's and the
    daemon's state, the instance's ports when they are a block, the workspace, Grafana; for a
    report, what it is instead of the states (there is no daemon and no Docker behind it)."""
    if report is not None:
        text = Text(" neodev ", style="bold reverse")
        text.append(f" {profile} ", style="bold")
        text.append(f"· {report}", style="bold yellow")
        text.append(f" · {shown_path(workspace)}")
        return text
    docker = view.docker_state()
    docker_style = {"ok": "green", "unreachable": "bold red"}.get(docker, "dim")
    daemon = "connected" if view.connected else view.connection_detail
    # The states first, the workspace after them (the line is cut at the edge, see the
    # stylesheet): a long path must not push the daemon's state out of a narrow terminal.
    named = instance is not None and instance.name
    # The instance's name is the badge: with five checkouts open, it is what tells them apart.
    text = Text(f" {instance.name} " if instance is not None and named else " neodev ",
                style="bold reverse")
    text.append(f" {profile} ", style="bold")
    text.append("· docker ")
    text.append(f"● {docker}", style=docker_style)
    text.append(" · daemon ")
    text.append(f"● {daemon}" if view.connected else f"✖ {daemon} (reconnecting)",
                style="green" if view.connected else "bold red")
    span = port_span(instance) if instance is not None else None
    if span:
        text.append(f" · ports {span}", style="bold")
    text.append(f" · {shown_path(workspace)}")
    if grafana:
        text.append(f" · grafana {grafana}", style="dim")
    return text


def shown_path(path: str) -> str:
    """A path as the header shows it: under the home directory as `~/...` (shorter, and the
    same on every machine, which the snapshot tests rely on)."""
    home = os.path.expanduser("~")
    if home not in ("~", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path
